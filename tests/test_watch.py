"""Watchers: change events delivered live (sync and asyncio), filtered by pattern, keys and
operations, never across tenants, resumed from a cursor without loss, run in the background
with `on_change`, ended by a timeout, told of whole scopes expiring, and on a cluster from
every primary. The bookkeeping (pyredmem/_watching.py) is tested first, with no server."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyredmem import (
    AsyncMemory,
    DecryptionError,
    EventsConfigError,
    InvalidValueError,
    Memory,
    Message,
    PyRedMemError,
)
from pyredmem._async.watch import AsyncChangeHandler, AsyncWatch
from pyredmem._async.watch import on_change as on_change_async
from pyredmem._keys import Keyspace, key_slot
from pyredmem._ops.events import Event, Matcher, log_key
from pyredmem._sync.watch import ChangeHandler, Watch, on_change
from pyredmem._watching import (
    MARGIN_MS,
    ExpiryPoll,
    Positions,
    Resume,
    expired_event,
    log_key_digest,
    notify_value,
    scan_reply,
)
from tests.engines import Engine, Server, redis_server_binary, start_cluster

# --- the bookkeeping, without a server ----------------------------------------------------


def test_notify_value_adds_the_missing_flags_and_never_removes_one() -> None:
    assert notify_value("") == "KEtx"
    assert notify_value("xtKE") is None
    assert notify_value("AKE") is None  # A covers t and x
    assert notify_value("Eg") == "EgKtx"
    assert notify_value("KA") == "KAE"
    assert notify_value("Kl$") == "Kl$Etx"


def test_a_resume_cursor_reads_its_own_log_exactly_and_the_others_from_a_margin() -> None:
    key = "pm:{:user:a}:ev"
    r = Resume.of(f"1700000000123-4.{log_key_digest(key)}")
    assert r.start(key) == (1700000000123, 4)
    assert r.start("pm:{:user:b}:ev") == (1700000000123 - MARGIN_MS, -1)
    assert Resume.of(1700000000.5).start(key) == (1700000000500, -1)
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert Resume.of(moment).start(key) == (int(moment.timestamp() * 1000), -1)
    # a made-up expire event's id resumes from its time, with the margin, in every log
    assert Resume.of(f"1700000000123-0.x{log_key_digest('k')}").start(key) == (
        1700000000123 - MARGIN_MS,
        -1,
    )
    with pytest.raises(InvalidValueError):
        Resume.of("yesterday")


def test_positions_forget_the_least_recently_read_logs() -> None:
    p = Positions(most=2)
    p.set("a", (1, 0))
    p.set("b", (2, 0))
    p.set("a", (3, 0))
    p.set("c", (4, 0))
    assert p.get("b") is None and p.get("a") == (3, 0) and len(p) == 2
    assert p.start("a", (0, -1)) == "(3-0"
    assert p.start("z", (10, -1)) == "10-0"


def test_expired_keys_become_expire_events_of_what_the_matcher_wants() -> None:
    ks = Keyspace("pm", "t1")
    every = Matcher.of(ks, "*")
    scope = expired_event(ks, every, "pm:{t1:user:alice}:h", 1000)
    assert scope is not None
    assert (scope.kind, scope.scope, scope.target, scope.op, scope.key) == (
        "user",
        "alice",
        "scope",
        "expire",
        None,
    )
    assert scope.id.startswith("1000-0.x") and scope.at == 1.0
    thread = expired_event(ks, every, "pm:{t1:session:s:1}:t:chat:main:l", 5)
    assert thread is not None
    assert (thread.scope, thread.target, thread.key) == ("s:1", "thread", "chat:main")
    bucket = expired_event(ks, Matcher.of(ks, "cache:pages"), "pm:{t1:cache:pages::3}:h", 5)
    assert bucket is not None and (bucket.kind, bucket.scope, bucket.target) == (
        "cache",
        "pages",
        "scope",
    )
    assert expired_event(ks, every, "pm:{t2:user:alice}:h", 5) is None  # another tenant
    assert expired_event(ks, every, "pm:{t1:user:alice}:x", 5) is None  # not a whole scope
    assert expired_event(ks, Matcher.of(ks, "session:*"), "pm:{t1:user:a}:h", 5) is None
    assert expired_event(ks, Matcher.of(ks, "*", ops=["set"]), "pm:{t1:user:a}:h", 5) is None


def test_the_embedded_poll_tells_an_expiry_from_a_delete() -> None:
    poll = ExpiryPoll()
    poll.add(["gone", "deleted", "kept"])
    poll.update(["gone", "deleted", "kept"], [100, -1, 5000], now=10.0)
    assert poll.update(["gone", "deleted", "kept"], [-2, -2, 4900], now=10.1) == ["gone"]
    assert poll.keys() == ["kept"]


def test_scan_replies_of_a_server_and_of_a_cluster_node() -> None:
    assert scan_reply((0, [b"a"])) == (0, ["a"])
    assert scan_reply(({"127.0.0.1:7000": 12}, [b"b"])) == (12, ["b"])


@pytest.mark.parametrize(
    ("sync_obj", "async_obj"),
    [(Watch, AsyncWatch), (ChangeHandler, AsyncChangeHandler), (on_change, on_change_async)],
    ids=["Watch", "ChangeHandler", "on_change"],
)
def test_the_sync_twins_match_the_async_ones(sync_obj: Any, async_obj: Any) -> None:
    def public(obj: Any) -> dict[str, Any]:
        if not isinstance(obj, type):
            return {"__call__": obj}
        names = [n for n in dir(obj) if not n.startswith("_") or n in ("__init__",)]
        return {n: getattr(obj, n) for n in names}

    rename = {"aclose": "close", "__aiter__": "__iter__", "__anext__": "__next__"}
    sync_api, async_api = public(sync_obj), public(async_obj)
    assert set(sync_api) == {rename.get(n, n) for n in async_api}
    for name, member in async_api.items():
        twin = sync_api[rename.get(name, name)]
        assert (inspect.getdoc(member) or "").replace("Async", "") == (
            inspect.getdoc(twin) or ""
        ).replace("Async", ""), name
        if callable(member):
            assert str(inspect.signature(member)).replace("Async", "") == str(
                inspect.signature(twin)
            ), name
            assert not inspect.iscoroutinefunction(twin), name


# --- behaviour, on every engine -------------------------------------------------------------


def watch(mem: Memory, pattern: str = "*", **options: Any) -> Watch:
    return mem.watch(pattern, **options)


def awatch(mem: AsyncMemory, pattern: str = "*", **options: Any) -> AsyncWatch:
    return mem.watch(pattern, **options)


def take(w: Watch, n: int) -> list[Event]:
    """The next `n` events (fewer if the watch's timeout ends it first)."""
    out: list[Event] = []
    if n:
        for ev in w:
            out.append(ev)
            if len(out) == n:
                break
    return out


def summary(events: list[Event]) -> list[tuple[str, str, str, str | None]]:
    return [(f"{e.kind}:{e.scope}", e.target, e.op, e.key) for e in events]


def test_live_events_arrive_in_order(url: str) -> None:
    with Memory(url, events=True) as mem, watch(mem, "user:*", timeout=5) as w:
        alice, bob = mem.user("alice"), mem.user("bob")
        alice.set("a", 1)
        bob.set("b", 1)
        alice.incr("n")
        alice.update("a", lambda v: v + 1)
        alice.history("chat").append(Message.user("hi"))
        alice.delete("a")
        mem.session("s").set("x", 1)  # not a user scope
        got = take(w, 6)
    per_scope: dict[str, list[tuple[str, str, str | None]]] = {}
    for scope, target, op, key in summary(got):
        per_scope.setdefault(scope, []).append((target, op, key))
    assert per_scope == {
        "user:alice": [
            ("value", "set", "a"),
            ("value", "incr", "n"),
            ("value", "update", "a"),
            ("thread", "append", "chat"),
            ("value", "delete", "a"),
        ],
        "user:bob": [("value", "set", "b")],
    }
    assert len({e.id for e in got}) == 6
    assert w.cursor == got[-1].id


def test_values_are_decoded_when_logged_and_asked_for(url: str) -> None:
    with Memory(url, events="values") as mem, watch(mem, "user", values=True, timeout=5) as w:
        mem.user("a").set("k", {"deep": [1, 2]})
        mem.user("a").history("t").append(Message.user("hello"))
        got = take(w, 2)
    assert got[0].value == {"deep": [1, 2]}
    assert isinstance(got[1].value, Message) and got[1].value.content == "hello"


def test_pattern_keys_and_ops_filter_events(url: str) -> None:
    with (
        Memory(url, events=True) as mem,
        watch(mem, "user:a*", keys="pref*", ops=["set", "delete"], timeout=5) as w,
    ):
        mem.user("alice").set("prefs", 1)
        mem.user("alice").set("other", 1)  # key filtered out
        mem.user("alice").incr("prefs.n")  # op filtered out
        mem.user("bob").set("prefs", 1)  # scope filtered out
        mem.user("anna").delete("prefs")  # nothing to delete: nothing logged
        mem.user("anna").set("prefs", 2)
        mem.user("anna").delete("prefs")
        got = take(w, 3)
    # ordered within each scope (across scopes, events of one millisecond may swap)
    assert sorted(summary(got), key=lambda s: s[0]) == [
        ("user:alice", "value", "set", "prefs"),
        ("user:anna", "value", "set", "prefs"),
        ("user:anna", "value", "delete", "prefs"),
    ]


def test_cache_events_are_watched_by_cache_name(url: str) -> None:
    with Memory(url, events=True) as mem, watch(mem, "cache:pages", timeout=5) as w:
        pages, other = mem.cache("pages", ttl=60), mem.cache("other", ttl=60)
        other.set("x", 1)
        pages.set("home", "<html>")
        pages.delete("home")
        got = take(w, 2)
    assert summary(got) == [
        ("cache:pages", "cache", "set", "home"),
        ("cache:pages", "cache", "invalidate", "home"),
    ]


def test_a_watcher_never_sees_another_tenants_events(url: str) -> None:
    with (
        Memory(url, events=True, tenant="t1") as t1,
        Memory(url, events=True, tenant="t10") as t10,
        Memory(url, events=True) as untenanted,
        watch(t1, "*", timeout=1) as w,
        watch(untenanted, "*", timeout=1) as plain,
    ):
        t10.user("a").set("k", "t10")
        untenanted.user("a").set("k", "none")
        t10.global_scope.set("k", "t10")
        t1.user("a").set("k", "t1")
        mine = list(w)
        theirs = list(plain)
    assert summary(mine) == [("user:a", "value", "set", "k")]
    assert summary(theirs) == [("user:a", "value", "set", "k")]
    assert mine[0].id != theirs[0].id


def test_resuming_from_a_cursor_misses_nothing(url: str) -> None:
    with Memory(url, events=True) as mem:
        scopes = [mem.user(f"u{i}") for i in range(3)]
        with watch(mem, "user:*", timeout=5) as first:
            for i in range(6):
                scopes[i % 3].set("k", i)
            seen = take(first, 4)  # two are left unread
        for i in range(6, 12):  # while nobody watches
            scopes[i % 3].incr("n")
        with watch(mem, "user:*", after=first.cursor, timeout=0.5) as second:
            resumed = list(second)
        logged = {e.id for s in scopes for e in s.changes()}
    assert len(logged) == 12
    # everything after the cursor came again, each once; older ones only within the margin
    assert {e.id for e in seen} | {e.id for e in resumed} == logged
    assert len({e.id for e in resumed}) == len(resumed)
    assert first.cursor not in {e.id for e in resumed}
    with watch(mem_again := Memory(url), "user:*", after=time.time() - 60, timeout=0.5) as w:
        assert {e.id for e in w} == logged
    mem_again.close()


@pytest.mark.parametrize(
    "options",
    [
        {"after": float("nan")},
        {"after": float("inf")},
        {"after": dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc)},
        {"after": f"{2**64}-0"},
        {"timeout": float("nan")},
        pytest.param({"timeout": 10**400}, id="timeout=10**400"),
    ],
)
def test_a_bad_after_or_timeout_is_refused(url: str, options: dict[str, Any]) -> None:
    """`after` is an event id, a datetime or seconds since the epoch (from 1970, finite)
    and `timeout` a positive finite number of seconds: anything else is an
    InvalidValueError (never a bare ValueError or OverflowError), sync and asyncio."""
    with Memory(url, events=True) as mem, pytest.raises(InvalidValueError):
        watch(mem, "user", **options)

    async def main() -> None:
        async with AsyncMemory(url, events=True) as amem:
            awatch(amem, "user", **options)

    with pytest.raises(InvalidValueError):
        asyncio.run(main())


def test_iteration_ends_after_timeout_seconds_without_events(url: str) -> None:
    with Memory(url, events=True) as mem:
        w = watch(mem, "*", timeout=0.3)
        started = time.monotonic()
        assert list(w) == []
        took = time.monotonic() - started
    assert 0.29 <= took < 2.0


def test_on_change_calls_back_for_each_event_and_survives_a_raising_callback(url: str) -> None:
    seen: list[str] = []
    done = threading.Event()

    def fragile(ev: Event) -> None:
        if ev.key == "boom":
            raise RuntimeError("callback failure")

    def steady(ev: Event) -> None:
        seen.append(ev.key or "")
        if ev.key == "last":
            done.set()

    with Memory(url, events=True) as mem:
        h1 = mem.on_change("user:*", fragile)
        h2 = on_change(watch(mem, "user:*"), steady)
        assert isinstance(h1, ChangeHandler)
        for key in ("a", "boom", "b", "boom", "last"):
            mem.user("x").set(key, 1)
        assert done.wait(10)
        deadline = time.monotonic() + 5
        while h1.delivered < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (h1.delivered, h1.errors) == (5, 2)
        assert seen == ["a", "boom", "b", "boom", "last"] and h2.errors == 0
        h1.close()
        assert not h1.running
        mem.user("x").set("after", 1)
        assert not h1.running and h1.delivered == 5
        started = time.monotonic()
    # closing the memory stopped the other handler
    assert not h2.running and time.monotonic() - started < 2


def test_a_whole_scope_expiring_gives_an_expire_event(url: str) -> None:
    with Memory(url, events=True) as mem, watch(mem, "user:*", timeout=5) as w:
        mem.user("a").set("k", 1, ttl=0.3)
        mem.user("a").history("chat", ttl=0.3).append(Message.user("hi"))
        written = time.monotonic()
        got = take(w, 2)  # the set and the append
        expired = [e for e in take(w, 2) if e.op == "expire"]
        took = time.monotonic() - written
    assert {(e.target, e.key) for e in expired} == {("scope", None), ("thread", "chat")}
    assert all(".x" in e.id for e in expired)
    assert [e.op for e in got] == ["set", "append"]
    assert took < 3.0, f"expire events came {took:.2f} s after the writes"


@pytest.mark.real_server
def test_a_watcher_turns_keyspace_notifications_on_without_removing_flags(
    engine: Engine, url: str
) -> None:
    admin = engine.raw_client()
    admin.config_set("notify-keyspace-events", "Eg")
    try:
        with Memory(url, events=True) as mem, watch(mem, timeout=5) as w:
            mem.user("a").set("k", 1)
            assert len(take(w, 1)) == 1
        flags = admin.config_get("notify-keyspace-events")["notify-keyspace-events"]
        assert set(flags) >= set("KEtxg")
    finally:
        for server in engine.servers:
            engine.admin(server).config_set("notify-keyspace-events", "")


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_server_that_restarts_is_subscribed_again_and_caught_up(server: Server) -> None:
    url = f"redis://127.0.0.1:{server.port}"
    with Memory(url, events=True) as mem, watch(mem, "user:*", timeout=10) as w:
        mem.user("a").set("before", 1)
        assert summary(take(w, 1)) == [("user:a", "value", "set", "before")]
        server.stop()
        server.start()  # same port, empty, notifications off again
        admin = redis.Redis(port=server.port)
        admin.config_set("notify-keyspace-events", "")
        mem.user("a").set("meanwhile", 1)  # before the watcher is back: found by catch-up
        got = take(w, 1)
        mem.user("a").set("after", 1)
        got += take(w, 1)
        admin.close()
    assert [e.key for e in got] == ["meanwhile", "after"]


def test_an_async_watcher_survives_a_server_restart(server: Server) -> None:
    async def main() -> list[str | None]:
        url = f"redis://127.0.0.1:{server.port}"
        async with AsyncMemory(url, events=True) as mem, awatch(mem, "user:*", timeout=10) as w:
            await mem.user("a").set("before", 1)
            got = [(await w.__anext__()).key]
            server.stop()
            server.start()  # same port, empty, notifications off again
            await mem.user("a").set("meanwhile", 1)
            got.append((await w.__anext__()).key)
            await mem.user("a").set("after", 1)
            got.append((await w.__anext__()).key)
            return got

    assert asyncio.run(main()) == ["before", "meanwhile", "after"]


@pytest.mark.real_server
@pytest.mark.standalone
def test_config_refused_says_what_to_set(server: Server) -> None:
    admin = redis.Redis(port=server.port)
    admin.execute_command("ACL", "SETUSER", "noconf", "on", ">pw", "~*", "&*", "+@all", "-config")
    admin.execute_command(
        "ACL", "SETUSER", "getonly", "on", ">pw", "~*", "&*", "+@all", "-config|set"
    )
    admin.config_set("notify-keyspace-events", "Eg")
    base = f"127.0.0.1:{server.port}"
    with Memory(f"redis://noconf:pw@{base}") as mem:
        with pytest.raises(EventsConfigError) as refused:
            watch(mem).start()
        assert refused.value.value == "KEtx" and "'KEtx'" in str(refused.value)
    with Memory(f"redis://getonly:pw@{base}") as mem:
        with pytest.raises(EventsConfigError) as refused:
            watch(mem).start()
        value = refused.value.value
        assert set(value) == set("EgKtx") and value.startswith("gE")  # what it had, first
        # set by other means, and not checked
        admin.config_set("notify-keyspace-events", value)
        with Memory(f"redis://getonly:pw@{base}", events=True) as writer:
            with watch(mem, configure=False, timeout=5) as w:
                writer.user("a").set("k", 1)
                assert len(take(w, 1)) == 1
    admin.close()


@pytest.mark.real_server
def test_one_watcher_hears_every_cluster_primary(engine: Engine, url: str) -> None:
    with Memory(url, events=True) as mem, watch(mem, "user:*", timeout=5) as w:
        names = [f"u{i}" for i in range(24)]
        if engine.cluster:
            logs = [log_key(mem._cfg.keyspace.prefix(mem.user(n).ref)) for n in names]
            nodes = {mem.client.get_node_from_key(k).name for k in logs}
            assert len(nodes) == 3, "the scopes should span every primary"
        for n in names:
            mem.user(n).set("k", n)
        got = take(w, len(names))
    assert sorted(e.scope for e in got) == sorted(names)
    assert len({key_slot(f"{{:user:{n}}}") for n in names}) > 3


# --- asyncio --------------------------------------------------------------------------------


def test_async_live_events_resume_and_on_change(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url, events=True) as mem:
            async with awatch(mem, "user:*", timeout=5) as w:
                await mem.user("a").set("k", 1)
                await mem.user("b").incr("n")
                got = []
                async for ev in w:
                    got.append(ev)
                    if len(got) == 2:
                        break
            assert sorted((e.scope, e.op) for e in got) == [("a", "set"), ("b", "incr")]
            await mem.user("a").set("k", 2)
            async with awatch(mem, "user:*", after=w.cursor, timeout=0.5) as again:
                later = [ev async for ev in again]
            assert ("a", "set") in {(e.scope, e.op) for e in later}
            assert {e.id for e in later} >= {e.id for e in await mem.user("a").changes()} - {
                e.id for e in got
            }

            seen: list[str] = []
            arrived = asyncio.Event()

            async def record(ev: Event) -> None:
                seen.append(ev.key or "")
                if ev.key == "last":
                    arrived.set()

            def explode(ev: Event) -> None:
                raise ValueError("no")

            handler = await mem.on_change("user:*", record)
            failing = await on_change_async(awatch(mem, "user:*"), explode)
            assert isinstance(handler, AsyncChangeHandler)
            await mem.user("c").set("first", 1)
            await mem.user("c").set("last", 1)
            await asyncio.wait_for(arrived.wait(), 10)
            assert seen == ["first", "last"]
            for _ in range(500):
                if failing.errors == 2:
                    break
                await asyncio.sleep(0.01)
            assert failing.errors == 2 and failing.running
            await handler.aclose()
            assert not handler.running
        assert not failing.running  # closed with the memory

    asyncio.run(main())


def test_async_timeout_and_scope_expiry(url: str) -> None:
    async def main() -> float:
        async with AsyncMemory(url, events=True) as mem:
            async with awatch(mem, "session", ops=["expire"], timeout=5) as w:
                await mem.session("s").set("k", 1, ttl=0.3)
                written = time.monotonic()
                ev = await w.__anext__()
                assert (ev.kind, ev.scope, ev.target, ev.op) == ("session", "s", "scope", "expire")
                return time.monotonic() - written

    assert asyncio.run(main()) < 3.0


@pytest.fixture
def quiet_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        extra = [t for t in threading.enumerate() if t not in before and t.name.startswith("pyr")]
        if not extra:
            return
        time.sleep(0.02)
    raise AssertionError(f"handler threads left running: {extra}")


def test_closing_a_handler_from_its_own_callback(url: str, quiet_threads: None) -> None:
    with Memory(url, events=True) as mem:
        closed = threading.Event()
        handler: list[ChangeHandler] = []

        def stop_at_once(ev: Event) -> None:
            handler[0].close()
            closed.set()

        handler.append(on_change(watch(mem, "user:*"), stop_at_once))
        mem.user("a").set("k", 1)
        assert closed.wait(10)
        deadline = time.monotonic() + 2
        while handler[0].running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not handler[0].running and handler[0].delivered == 1


# --- failover ---------------------------------------------------------------------------------


def _first_seen_per_scope(events: list[Event]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for e in events:
        if e.id not in seen:
            seen.add(e.id)
            out.setdefault(e.scope, []).append(e.id)
    return out


def _failed_over(probe: redis.Redis, victim: int) -> bool:
    """Has a replica taken over from the primary on port `victim`?"""
    if probe.cluster("INFO").get("cluster_state") != "ok":
        return False
    nodes = probe.cluster("NODES")
    healthy = [a for a, n in nodes.items() if "master" in n["flags"] and "fail" not in n["flags"]]
    return len(healthy) == 3 and not any(a.endswith(f":{victim}") for a in healthy)


def _logged(mem: Memory, sid: str) -> list[str]:
    """The ids a scope's log holds, oldest first."""
    ids: list[str] = []
    since = None
    while True:
        page = mem.user(sid).changes(since=since, limit=1000)
        ids += [e.id for e in page]
        if len(page) < 1000:
            return ids
        since = page[-1].id


@pytest.mark.slow
def test_a_cluster_failover_loses_no_logged_event(tmp_path: Path) -> None:
    servers = start_cluster(tmp_path / "cluster", masters=3, replicas=1)
    try:
        probe = redis.Redis(port=servers[0].port)
        deadline = time.monotonic() + 30  # replicas sync, then the slot map lists them
        while any(len(r) < 4 for r in probe.execute_command("CLUSTER", "SLOTS")):
            assert time.monotonic() < deadline, "the slot map lists no replica"
            time.sleep(0.2)
        victim = next(s for s in servers[:3] if s.port != servers[0].port)
        url = f"redis+cluster://127.0.0.1:{servers[0].port}"
        scopes = [f"u{i}" for i in range(30)]
        delivered: list[Event] = []
        stop = threading.Event()
        failures = 0

        def write() -> None:
            nonlocal failures
            with Memory(url, events=True) as mem:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        mem.user(scopes[i % len(scopes)]).set("k", i)
                    except PyRedMemError:
                        failures += 1
                        time.sleep(0.05)
                    time.sleep(0.002)

        with Memory(url) as reader:
            w = watch(reader, "user:*")
            w.start()
            listener = threading.Thread(target=lambda: delivered.extend(w))
            listener.start()
            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(1.0)
            os.kill(victim.proc.pid if victim.proc else 0, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while not _failed_over(probe, victim.port):
                assert time.monotonic() < deadline, "no failover"
                time.sleep(0.2)
            time.sleep(2.0)  # writes to the promoted replica
            stop.set()
            writer.join(30)
            truth = {sid: _logged(reader, sid) for sid in scopes}
            deadline = time.monotonic() + 15
            while not set().union(*truth.values()) <= {e.id for e in list(delivered)}:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            w.close()
            listener.join(5)
            assert not listener.is_alive()
        assert failures > 0, "the kill should have interrupted the writes"
        seen = _first_seen_per_scope(delivered)
        for sid, ids in truth.items():
            got = [i for i in seen.get(sid, []) if i in set(ids)]
            assert got == ids, f"user:{sid}: {len(ids) - len(got)} logged events not delivered"
    finally:
        for s in servers:
            s.stop()


@pytest.mark.slow
def test_a_watcher_through_sentinel_follows_the_primary_after_a_failover(tmp_path: Path) -> None:
    from tests.test_replicas import _sentinel

    binary, fast_sync = redis_server_binary(), ("--repl-diskless-sync-delay", "0")
    primary = Server(binary, tmp_path / "primary", fast_sync).start()
    replica = Server(binary, tmp_path / "replica", fast_sync).start()
    proc = None
    try:
        follower = redis.Redis(port=replica.port)
        follower.replicaof("127.0.0.1", primary.port)
        deadline = time.monotonic() + 20
        while follower.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.1)
        proc, port = _sentinel(tmp_path, primary.port)
        url = f"redis+sentinel://127.0.0.1:{port}/main"
        with Memory(url, events=True) as mem, watch(mem, "user:*", timeout=10) as w:
            mem.user("a").set("before", 1)
            assert [e.key for e in take(w, 1)] == ["before"]
            old = mem._runner.pubsub(None)
            old.subscribe("probe")
            assert mem._runner.on_primary(old)
            deadline = time.monotonic() + 20
            while True:  # until the Sentinel has judged the replica fit
                try:
                    redis.Redis(port=port).execute_command("SENTINEL", "FAILOVER", "main")
                    break
                except redis.ResponseError:
                    assert time.monotonic() < deadline, "the Sentinel refuses to fail over"
                    time.sleep(0.2)
            sentinel = redis.Redis(port=port)
            while sentinel.sentinel_masters()["main"]["port"] != replica.port:
                assert time.monotonic() < deadline, "no failover"
                time.sleep(0.1)
            assert not mem._runner.on_primary(old)  # still pointing at the former primary
            old.close()
            written = []
            for i in range(40):  # through the failover, then on the new primary
                try:
                    mem.user("a").set(f"k{i}", i)
                    written.append(f"k{i}")
                except PyRedMemError:
                    time.sleep(0.1)
            assert written, "no write reached the new primary"
            got = take(w, len(written))
            # only the primary announces expiries: the watcher must have moved to it
            mem.user("b").set("k", 1, ttl=0.3)
            got += take(w, 2)
        keys = [e.key for e in got]
        assert [k for k in keys if k in written] == written
        assert ("b", "expire") in {(e.scope, e.op) for e in got}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)
        replica.stop()
        primary.stop()


def test_live_epoch_is_none_once_a_watch_ended_by_its_timeout(url: str) -> None:
    """A watch whose iteration ended by its timeout listens nowhere: no live epoch
    (sync and asyncio)."""
    with Memory(url, events=True) as mem:
        w = mem.watch("user", timeout=0.2)
        with w:
            assert w.live_epoch is not None  # listening
            assert list(w) == []  # ended by its timeout: its connections are released
            assert w._nodes == {}
            assert w.live_epoch is None, "a watch that stopped listening reports a live epoch"

    async def main() -> int | None:
        async with AsyncMemory(url, events=True) as amem:
            aw = amem.watch("user", timeout=0.2)
            async with aw:
                assert [e async for e in aw] == []
                return aw.live_epoch

    assert asyncio.run(main()) is None


def test_an_event_that_fails_to_decode_loses_no_event_of_another_scope(url: str) -> None:
    """A log whose entries cannot be decoded (a value under a key the watcher lacks)
    raises, but the events of the other logs read with it are delivered all the same. Which
    log is read first depends on set order, so the two roles are swapped over the same two
    scopes."""
    key = os.urandom(32)
    with (
        Memory(url, events="values", encryption_key=key) as sealed,
        Memory(url, events="values") as plain,
        Memory(url) as reader,
    ):
        for bad, good in (("x", "y"), ("y", "x")):
            writers = {bad: sealed, good: plain}
            with reader.watch("user", values=True, timeout=0.5) as w:
                for name in ("x", "y"):
                    writers[name].user(name).set("k", name)
                with pytest.raises(DecryptionError):
                    next(iter(w))
                sealed.user(bad).erase()  # the undecodable event goes with its scope
                got = [(e.scope, e.value) for e in w]
            plain.user(good).erase()
            assert got == [(good, good)], f"round with {bad!r} undecodable: {got}"


def test_an_entry_that_fails_to_decode_raises_once_and_the_watch_goes_on(url: str) -> None:
    """A value sealed under a key the watcher lacks raises DecryptionError once; the next
    iteration delivers what follows it (a plain watch is not stuck on it)."""
    with (
        Memory(url, events="values", encryption_key=os.urandom(32)) as sealed,
        Memory(url, events="values") as plain,
        Memory(url) as reader,
    ):
        with reader.watch("user:u", values=True, timeout=0.5) as w:
            sealed.user("u").set("secret", "s")
            plain.user("u").set("open", "o")
            it = iter(w)
            with pytest.raises(DecryptionError):
                next(it)
            assert [(e.key, e.value) for e in it] == [("open", "o")]
