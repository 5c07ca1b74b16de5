"""on_error: what limiters answer when the server is gone or hangs, within their timeout.

Each test starts a private redis-server so that it can stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
import redis

from pyredmem import AsyncMemory, BackendUnavailableError, ConcurrencyLimitError, Memory
from tests.engines import Server

TIMEOUT = 0.4


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
                with pytest.raises(BackendUnavailableError):
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
            with pytest.raises(BackendUnavailableError):
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
        with pytest.raises(BackendUnavailableError):
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
        with pytest.raises(BackendUnavailableError):
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
