"""on_error: what limiters answer when the server is gone, hangs or refuses writes, within
their timeout; peeks during a write pause.

Each failure test starts a private redis-server so that it can stop it."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import time
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyredmem import (
    AsyncMemory,
    BackendError,
    BackendUnavailableError,
    ConcurrencyLimitError,
    InvalidKeyError,
    InvalidValueError,
    Memory,
    OutOfMemoryError,
    PyRedMemError,
)
from tests.engines import Engine, Server

TIMEOUT = 0.4


def _failure(how: str) -> type[BackendError]:
    """What a call raises without a policy: a stopped server refuses the connection (nothing
    was sent); a hung one may have taken the call (OutcomeUnknownError) or not."""
    return BackendUnavailableError if how == "stopped" else BackendError


def _stop(server: Server, how: str) -> None:
    assert server.proc is not None
    if how == "stopped":
        server.stop()
    else:  # hung: the process is there but never answers
        os.kill(server.proc.pid, signal.SIGSTOP)


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_each_policy_answers_within_its_timeout(server: Server, how: str) -> None:
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        limiters = {
            policy: mem.limiter("api", limit=5, period=60, on_error=policy, timeout=TIMEOUT)
            for policy in ("allow", "deny", "raise")
        }
        for lim in limiters.values():
            assert lim.hit("k").allowed  # connected while the server was up
        _stop(server, how)
        for policy, lim in limiters.items():
            started = time.monotonic()
            if policy == "raise":
                with pytest.raises(_failure(how)):
                    lim.hit("k")
            else:
                decision = lim.hit("k")
                assert decision.allowed is (policy == "allow")
                assert lim.peek("k").allowed is (policy == "allow")
            assert time.monotonic() - started < 2 * TIMEOUT  # hit and peek: two calls
        # several limits at once: the strictest policy applies
        started = time.monotonic()
        md = mem.hit_many([(limiters["allow"], "a"), (limiters["deny"], "b")])
        assert md.allowed is False and time.monotonic() - started < TIMEOUT
        assert mem.hit_many([(limiters["allow"], "a")]).allowed


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_async_policies_answer_within_their_timeout(server: Server, how: str) -> None:
    async def main() -> None:
        async with AsyncMemory(f"redis://127.0.0.1:{server.port}") as mem:
            allow = mem.limiter("api", limit=5, period=60, on_error="allow", timeout=TIMEOUT)
            deny = mem.limiter("api", limit=5, period=60, on_error="deny", timeout=TIMEOUT)
            fail = mem.limiter("api", limit=5, period=60, timeout=TIMEOUT)
            assert (await allow.hit("k")).allowed and (await deny.hit("j")).allowed
            _stop(server, how)
            started = time.monotonic()
            assert (await allow.hit("k")).allowed is True
            assert (await deny.hit("k")).allowed is False
            with pytest.raises(_failure(how)):
                await fail.hit("k")
            assert time.monotonic() - started < 3 * TIMEOUT

    asyncio.run(main())


def test_without_a_policy_errors_are_raised(server: Server) -> None:
    with Memory(
        f"redis://127.0.0.1:{server.port}",
    ) as mem:
        lim = mem.limiter("api", limit=5, period=60, on_error="allow")
        assert lim.on_error == "allow" and lim.hit("k").allowed
        server.stop()
        started = time.monotonic()
        assert lim.hit("k").allowed  # the default timeout (1 s) applies
        assert time.monotonic() - started < 1


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_semaphore_policies_answer_within_their_timeout(server: Server, how: str) -> None:
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        sems = {
            policy: mem.semaphore("llm", limit=2, lease=60, on_error=policy, timeout=TIMEOUT)
            for policy in ("allow", "deny", "raise")
        }
        held = {policy: sem.acquire(policy) for policy, sem in sems.items()}
        assert all(lease is not None and not lease.fallback for lease in held.values())
        _stop(server, how)
        started = time.monotonic()
        with pytest.raises(_failure(how)):
            sems["raise"].acquire("k", wait=5)  # no waiting on a server that fails
        assert sems["deny"].acquire("k", wait=5) is None
        with pytest.raises(ConcurrencyLimitError):
            with sems["deny"].hold("k"):
                pass
        granted = sems["allow"].acquire("k", wait=5)
        assert granted is not None and granted.fallback and granted.holders == 0
        assert time.monotonic() - started < 5 * TIMEOUT  # four calls, each within TIMEOUT
        assert sems["allow"].renew(granted) and not sems["allow"].release(granted)  # no call
        started = time.monotonic()
        assert sems["allow"].renew(held["allow"]) is True
        assert sems["deny"].renew(held["deny"]) is False
        assert sems["deny"].release(held["deny"]) is False
        with pytest.raises(_failure(how)):
            sems["raise"].release(held["raise"])
        assert time.monotonic() - started < 5 * TIMEOUT


def test_async_semaphore_policy(server: Server) -> None:
    async def main() -> None:
        async with AsyncMemory(f"redis://127.0.0.1:{server.port}") as mem:
            sem = mem.semaphore("llm", limit=1, lease=60, on_error="allow", timeout=TIMEOUT)
            assert sem.on_error == "allow"
            real = await sem.acquire("k")
            assert real is not None and not real.fallback
            server.stop()
            async with sem.hold("k") as lease:  # all slots taken, were the server there
                assert lease.fallback
            assert await sem.renew(real) is True

    asyncio.run(main())


def test_a_policy_without_a_timeout_uses_the_default_one(server: Server) -> None:
    client = redis.Redis(port=server.port, socket_timeout=5)  # what applies without a timeout
    with Memory(client) as mem:
        lim = mem.limiter("api", limit=5, period=60, on_error="deny")
        sem = mem.semaphore("llm", limit=1, lease=60, on_error="deny")
        assert lim.hit("k").allowed and sem.acquire("k") is not None
        _stop(server, "hung")
        started = time.monotonic()
        assert lim.hit("k").allowed is False
        assert sem.acquire("j") is None
        assert time.monotonic() - started < 2 * 1.5  # the default timeout is 1 s per call
    client.close()


def _oom(server: Server) -> None:
    client = redis.Redis(port=server.port)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # every write is refused from now on
    client.close()


@pytest.mark.parametrize("failure", ["out of memory", "stopped"])
def test_policies_apply_to_every_backend_failure(server: Server, failure: str) -> None:
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        lims = {
            policy: mem.limiter(policy, limit=5, period=3600, on_error=policy, timeout=TIMEOUT)
            for policy in ("allow", "deny", "raise")
        }
        sems = {
            policy: mem.semaphore("llm", limit=5, lease=60, on_error=policy, timeout=TIMEOUT)
            for policy in ("allow", "deny", "raise")
        }
        held = {policy: sem.acquire(policy) for policy, sem in sems.items()}
        assert all(lim.hit("k").allowed for lim in lims.values())  # the scripts are loaded
        if failure == "stopped":
            server.stop()
        else:
            _oom(server)
        with pytest.raises(BackendError):
            lims["raise"].hit("k")
        with pytest.raises(BackendError):
            mem.hit_many([(lims["raise"], "k"), (lims["allow"], "j")])
        with pytest.raises(BackendError):
            sems["raise"].acquire("k")
        for policy in ("allow", "deny"):
            allow = policy == "allow"
            d = lims[policy].hit("k")
            assert d.allowed is allow and d.remaining == 0  # the fallback: nothing is known
            assert mem.hit_many([(lims[policy], "k")]).allowed is allow
            lease = sems[policy].acquire("k", wait=5)
            assert (lease is not None and lease.fallback) if allow else lease is None
            assert sems[policy].renew(held[policy]) is allow  # type: ignore[arg-type]
        if failure == "stopped":
            assert lims["deny"].peek("k").allowed is False
        else:  # a peek writes nothing: it still reads what was spent
            assert lims["deny"].peek("k").remaining == pytest.approx(4, abs=0.01)
            assert sems["raise"].release(held["raise"])  # type: ignore[arg-type]


@pytest.mark.parametrize("dialect", ["functions", "evalsha"])
def test_a_hit_refused_at_maxmemory_writes_nothing(server: Server, dialect: str) -> None:
    """At maxmemory (noeviction) Redis refuses a script's SET, HINCRBY or RPUSH only while the
    script has written nothing: after a DEL, LTRIM, HDEL or PEXPIRE (never refused) its later
    writes go through. So every hit that would write raises OutOfMemoryError with its keys
    as they were, also when they hold what a hit drops: sliding log entries that left the
    window, a fixed window of a past period, a gcra arrival time in the past. (A function
    that writes is refused whole at maxmemory; the EVALSHA fallback, for servers that refuse
    FUNCTION, runs the scripts as they are.)"""
    admin = redis.Redis(port=server.port)
    url = f"redis://127.0.0.1:{server.port}"
    if dialect == "evalsha":
        admin.acl_setuser(
            "nofn",
            enabled=True,
            passwords=["+pw"],
            keys=["*"],
            commands=["+@all", "-function", "-fcall", "-fcall_ro"],
        )
        url = f"redis://nofn:pw@127.0.0.1:{server.port}"
    with Memory(url) as mem:
        lims = {
            "g": mem.limiter("g", limit=2, period=1),
            "f": mem.limiter("f", limit=2, period=3600, algorithm="fixed"),
            "s": mem.limiter("s", limit=2, period=60, algorithm="sliding"),
        }
        g, f, s = lims["g"], lims["f"], lims["s"]
        for lim in lims.values():  # the scripts are loaded
            lim.hit("warm")
            lim.peek("warm")
            mem.hit_many([(lim, "warm")])
        assert mem._runner._dialect.functions is (dialect == "functions")
        now_s, now_us = admin.time()
        now = now_s * 1_000_000 + now_us
        old = now - 600_000_000  # ten periods ago and more (sliding and gcra)
        window = now // 3_600_000_000  # the fixed limit's current window

        def entry(time: int, total: int) -> str:  # a sliding log entry of cost 1
            return f"{time}:{total * 1_000_000}:1000000"

        states = {  # what a key holds before the call, by name
            "gcra idle": ("set", str(old)),
            "gcra busy": ("set", str(now + 60_000_000)),  # denies any cost
            "fixed past window": ("hset", {str(window - 3): "1000000"}),
            "fixed full window": ("hset", {str(window - 3): "1", str(window): "2000000"}),
            "sliding all left": ("rpush", [entry(old, 1), entry(old, 2)]),
            "sliding some left": ("rpush", [entry(old, 1), entry(old, 2), entry(now, 3)]),
            "sliding full, some left": (
                "rpush",
                [entry(old, 1), entry(now, 2), entry(now, 3)],
            ),
        }
        # label -> the call, and the state of each (limiter, subject) it touches
        cases: dict[str, tuple[Any, dict[str, str]]] = {
            "gcra hit": (lambda k: g.hit(k), {"g": "gcra idle"}),
            "fixed hit": (lambda k: f.hit(k), {"f": "fixed past window"}),
            "sliding hit, all left": (lambda k: s.hit(k), {"s": "sliding all left"}),
            "sliding hit, some left": (lambda k: s.hit(k), {"s": "sliding some left"}),
            "sliding hit of 0, some left": (lambda k: s.hit(k, 0), {"s": "sliding some left"}),
            "sliding denial, some left": (lambda k: s.hit(k), {"s": "sliding full, some left"}),
            "hit_many gcra": (lambda k: mem.hit_many([(g, k)]), {"g": "gcra idle"}),
            "hit_many fixed": (lambda k: mem.hit_many([(f, k)]), {"f": "fixed past window"}),
            "hit_many sliding, all left": (
                lambda k: mem.hit_many([(s, k)]),
                {"s": "sliding all left"},
            ),
            "hit_many sliding, some left": (
                lambda k: mem.hit_many([(s, k)]),
                {"s": "sliding some left"},
            ),
            "hit_many of 0, sliding some left": (
                lambda k: mem.hit_many([(s, k, 0)]),
                {"s": "sliding some left"},
            ),
            "hit_many fixed, sliding, gcra": (
                lambda k: mem.hit_many([(f, k), (s, k), (g, k)]),
                {"f": "fixed past window", "s": "sliding some left", "g": "gcra idle"},
            ),
            "hit_many denied by gcra, sliding some left": (
                lambda k: mem.hit_many([(s, k), (g, k)]),
                {"s": "sliding some left", "g": "gcra busy"},
            ),
            "hit_many denied by fixed, sliding all left": (
                lambda k: mem.hit_many([(s, k), (f, k)]),
                {"s": "sliding all left", "f": "fixed full window"},
            ),
        }
        problems: dict[str, str] = {}
        for n, (label, (call, touched)) in enumerate(cases.items()):
            subject = f"c{n}"
            keys = []
            for alg, state in touched.items():
                (key,) = lims[alg].rule.keys(subject)
                command, value = states[state]
                if command == "set":
                    admin.set(key, value)
                elif command == "hset":
                    admin.hset(key, mapping=value)  # type: ignore[arg-type]
                else:
                    admin.rpush(key, *value)
                admin.pexpire(key, 600_000)  # far longer than any TTL a hit sets
                keys.append(key)
            before = [admin.dump(k) for k in keys]
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", 1)
            try:
                call(subject)
                problems[label] = "answered"
            except OutOfMemoryError:
                pass
            except PyRedMemError as exc:
                problems[label] = type(exc).__name__
            finally:
                admin.config_set("maxmemory", 0)
            if [admin.dump(k) for k in keys] != before:
                problems[label] = f"{problems.get(label, 'OutOfMemoryError')}, key changed"
            elif min(admin.pttl(k) for k in keys) < 590_000:
                problems[label] = f"{problems.get(label, 'OutOfMemoryError')}, TTL changed"
        assert not problems, problems
        # a peek writes nothing, at maxmemory too
        admin.config_set("maxmemory", 1)
        try:
            assert round(s.peek("c3").remaining) == 1 and round(f.peek("c1").remaining) == 2
        finally:
            admin.config_set("maxmemory", 0)
        assert round(s.hit("c3").remaining) == 0 and admin.llen(s.rule.keys("c3")[0]) == 2
        assert mem.hit_many([(f, "c1")]).allowed and admin.hlen(f.rule.keys("c1")[0]) == 1
    admin.close()


def test_policies_never_swallow_bad_input(server: Server) -> None:
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        lim = mem.limiter("api", limit=5, period=60, on_error="allow", timeout=TIMEOUT)
        sem = mem.semaphore("llm", limit=1, lease=60, on_error="allow", timeout=TIMEOUT)
        server.stop()
        assert lim.hit("k").allowed  # the server's failure is the policy's
        for bad in (lambda: lim.hit("{k}"), lambda: lim.peek("k", 6), lambda: lim.hit("k", -1)):
            with pytest.raises((InvalidKeyError, InvalidValueError)):
                bad()
        with pytest.raises(InvalidValueError):
            mem.hit_many([(lim, "k"), (lim, "k")])
        with pytest.raises(InvalidKeyError):
            sem.acquire("")
        with pytest.raises(InvalidValueError):
            sem.acquire("k", wait=-1)


def test_logs_never_name_the_subject(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    subject, group = "alice@example.com", "acme-corp"
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        lim = mem.limiter("api", limit=5, period=60, on_error="allow", timeout=TIMEOUT)
        sem = mem.semaphore("llm", limit=1, lease=60, on_error="deny", timeout=TIMEOUT)
        server.stop()
        with caplog.at_level(logging.WARNING, logger="pyredmem"):
            assert lim.hit(subject).allowed and lim.peek(subject, group=group).allowed
            assert mem.hit_many([(lim, subject)], group=group).allowed
            assert sem.acquire(subject) is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4
    digest = hashlib.sha256(lim.rule.keys(subject)[0].encode()).hexdigest()[:12]
    assert digest in messages[0] and "limiter:api" in messages[0]
    assert "BackendUnavailableError" in messages[0]
    for text in messages:
        assert subject not in text and group not in text
        assert "alice" not in text and "acme" not in text


@pytest.mark.real_server
def test_peek_answers_during_a_write_pause(engine: Engine, mem: Memory) -> None:
    lim = mem.limiter("api", limit=5, period=3600, algorithm="sliding")
    assert lim.hit("k").allowed
    pause = [redis.Redis(port=s.port) for s in engine.servers]
    # a write (PUBLISH: no key, so no cluster redirection) that gives up after 0.3 s
    probes = [
        redis.Redis(port=s.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
        for s in engine.servers
    ]
    try:
        for client in pause:
            client.client_pause(1500, all=False)  # CLIENT PAUSE 1500 WRITE
        assert round(lim.peek("k").remaining) == 4
        # still paused: the peek was answered during the pause, not after it
        for probe in probes:
            with pytest.raises(redis.exceptions.TimeoutError):
                probe.publish("probe", "x")
    finally:
        for client in pause:
            client.client_unpause()
            client.close()
        for probe in probes:
            probe.close()
