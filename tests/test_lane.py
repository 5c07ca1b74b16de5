"""The direct lane (pyredmem/_async/_lane.py): operations on connections kept out of a
standalone client's pool. What it must never do: reuse a connection with a reply still in
flight, share a socket between threads or with a forked child, or keep connections from the
pool after close()."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyredmem import AsyncMemory, BackendUnavailableError, Memory, WrongTypeError
from tests.engines import Engine, Server

NAME = "pyredmem-lane-test"


def _pause(server: Server, paused: bool) -> None:
    assert server.proc is not None
    os.kill(server.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)


def _connections(engine: Engine) -> int:
    """Connections open on the server under our client name."""
    raw = engine.raw_client()
    try:
        return sum(1 for c in raw.client_list() if c.get("name") == NAME)
    finally:
        raw.close()


def test_a_timed_out_call_leaves_no_reply_behind(server: Server) -> None:
    client = redis.Redis(port=server.port, socket_timeout=0.2)
    with Memory(client) as mem:
        user = mem.user("u")
        user.set("a", "A")
        user.set("b", "B")
        _pause(server, True)
        with pytest.raises(BackendUnavailableError):
            user.get("a")  # its reply comes late, after the timeout
        _pause(server, False)
        # a reused connection would read the late reply to the call before
        assert [user.get("b") for _ in range(3)] == ["B", "B", "B"]
    client.close()


def test_a_cancelled_task_leaves_no_reply_behind(server: Server) -> None:
    async def main() -> None:
        async with AsyncMemory(f"redis://127.0.0.1:{server.port}") as mem:
            user = mem.user("u")
            await user.set("a", "A")
            await user.set("b", "B")
            _pause(server, True)
            task = asyncio.ensure_future(user.get("a"))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            _pause(server, False)
            assert [await user.get("b") for _ in range(3)] == ["B", "B", "B"]

    asyncio.run(main())


@pytest.mark.real_server
@pytest.mark.standalone
def test_calls_reuse_the_connections_they_need(engine: Engine, url: str) -> None:
    with Memory(f"{url}?client_name={NAME}") as mem:
        counter = mem.user("u")
        for _ in range(200):
            counter.incr("n")
        counter.set("doc", {"a": 1})
        for _ in range(3):  # an error reply is read in full: the connection stays in use
            with pytest.raises(WrongTypeError):
                counter.incr("doc")
        assert _connections(engine) == 1  # one thread, one connection

        def work() -> None:
            for _ in range(300):
                counter.incr("n")

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counter.get("n") == 200 + 8 * 300
        assert 1 <= _connections(engine) <= 8


@pytest.mark.real_server
@pytest.mark.standalone
def test_close_gives_the_connections_back_to_a_callers_pool(engine: Engine, url: str) -> None:
    client = redis.Redis.from_url(f"{url}?client_name={NAME}", max_connections=1)
    mem = Memory(client)
    mem.user("u").set("k", 1)
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()  # the pool's one connection is the memory's while it is open
    mem.close()
    assert client.ping() and _connections(engine) == 1
    client.close()


@pytest.mark.real_server
@pytest.mark.standalone
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX only")
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")
def test_a_forked_child_opens_its_own_connection(engine: Engine, url: str) -> None:
    with Memory(url) as mem:
        counter = mem.user("u")
        assert counter.incr("n") == 1  # the parent's connection is now idle in the lane
        pid = os.fork()
        if pid == 0:  # the child: a shared socket would interleave replies with the parent's
            ok = all(counter.incr("child") == i for i in range(1, 201))
            os._exit(0 if ok else 1)
        parent = [counter.incr("n") for _ in range(200)]
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert parent == list(range(2, 202)) and counter.get("child") == 200


def test_a_single_connection_client_is_left_alone(server: Server) -> None:
    client = redis.Redis(port=server.port, single_connection_client=True)
    with Memory(client) as mem:
        assert mem._runner._lane is None
        assert mem.user("u").incr("n", 2) == 2 and mem.user("u").get("n") == 2
    client.close()


def test_a_blocking_pool_gets_every_connection_back_after_each_call(server: Server) -> None:
    pool = redis.BlockingConnectionPool(port=server.port, max_connections=2, timeout=1)
    client = redis.Redis(connection_pool=pool)
    with Memory(client) as mem:
        assert mem._runner._lane is not None and not mem._runner._lane._keep
        assert mem.user("u").incr("n", 2) == 2 and mem.user("u").get("n") == 2
        # both connections are the pool's again: the application can take both
        held = [pool.get_connection(), pool.get_connection()]
        for conn in held:
            pool.release(conn)
    client.close()


def test_async_tasks_share_the_lane(server: Server) -> None:
    async def main() -> None:
        async with AsyncMemory(f"redis://127.0.0.1:{server.port}") as mem:
            counter = mem.user("u")

            async def work() -> None:
                for _ in range(50):
                    await counter.incr("n")

            await asyncio.gather(*(work() for _ in range(20)))
            assert await counter.get("n") == 1000

    asyncio.run(main())


def _kill_ours(engine: Engine) -> None:
    raw = engine.raw_client()
    try:
        assert raw.client_kill_filter(_type="normal", skipme=True) >= 1
    finally:
        raw.close()


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_dropped_connection_follows_the_clients_retry_policy(engine: Engine, url: str) -> None:
    retrying = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 2))
    with Memory(retrying) as mem:
        mem.user("u").set("k", 1)
        _kill_ours(engine)  # within the moment a fresh connection is trusted
        assert mem.user("u").get("k") == 1  # retried on a new connection
    retrying.close()
    strict = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
    with Memory(strict) as mem:
        mem.user("u").set("k", 2)
        _kill_ours(engine)
        with pytest.raises(BackendUnavailableError):
            mem.user("u").get("k")
        assert mem.user("u").get("k") == 2  # the next call connects again
    strict.close()


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_connection_idle_a_while_is_checked_before_use(engine: Engine, url: str) -> None:
    strict = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0))
    with Memory(strict) as mem:
        mem.user("u").set("k", 3)
        _kill_ours(engine)
        time.sleep(0.15)  # past the trusted moment: found closed, made anew, no error
        assert mem.user("u").get("k") == 3
    strict.close()
