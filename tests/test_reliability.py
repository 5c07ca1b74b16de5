"""The connection layer under failure: a call that may not run twice never does, every
failure is a PyRedMemError saying what happened, connections go back to the pool, and reads
go through write pauses."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from pyredmem import (
    AsyncMemory,
    BackendUnavailableError,
    Memory,
    Message,
    OutcomeUnknownError,
    OutOfMemoryError,
    PermissionDeniedError,
    PoolExhaustedError,
    PyRedMemError,
    ReadOnlyError,
    SerializationError,
)
from pyredmem._connect import translate
from pyredmem._slots import MAX_SLOTS, Slots
from tests.engines import Engine, Server


def _stall(server: Server, seconds: float) -> threading.Thread:
    """Stop the server process now and let it go on after `seconds` (as a long command, a
    fork or a VM pause would): commands sent meanwhile run when it resumes."""
    assert server.proc is not None
    pid = server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    resume = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
    resume.start()
    return resume


@pytest.fixture
def retrying(server: Server) -> Iterator[redis.Redis]:
    """A client that retries timeouts ten times, as redis-py's default client does."""
    client = redis.Redis(port=server.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 10))
    yield client
    client.close()


def test_a_stalled_incr_runs_once_and_says_its_outcome_is_unknown(
    server: Server, retrying: redis.Redis
) -> None:
    with Memory(retrying) as mem:
        counter = mem.user("u")
        counter.incr("n")  # a connection, ready
        resume = _stall(server, 1.0)
        with pytest.raises(OutcomeUnknownError) as caught:
            counter.incr("n")  # sent; its reply is late: never sent again
        assert isinstance(caught.value, PyRedMemError) and caught.value.key == "n"
        resume.join()
        assert counter.get("n") == 2  # the first incr, and the lost one ran once


def test_a_stalled_async_incr_runs_once(server: Server) -> None:
    from redis.asyncio.retry import Retry as AsyncRetry

    async def main() -> None:
        client = redis.asyncio.Redis(
            port=server.port, socket_timeout=0.3, retry=AsyncRetry(NoBackoff(), 10)
        )
        async with AsyncMemory(client) as amem:
            counter = amem.user("u")
            await counter.incr("n")
            resume = _stall(server, 1.0)
            with pytest.raises(OutcomeUnknownError):
                await counter.incr("n")
            await asyncio.to_thread(resume.join)
            assert await counter.get("n") == 2
        await client.aclose()

    asyncio.run(main())


def test_a_stalled_limiter_hit_spends_once(server: Server, retrying: redis.Redis) -> None:
    with Memory(retrying) as mem:
        limiter = mem.limiter("api", limit=10, period=3600, algorithm="fixed")
        limiter.hit("alice")
        resume = _stall(server, 1.0)
        with pytest.raises(OutcomeUnknownError):
            limiter.hit("alice", 2)
        resume.join()
        assert limiter.peek("alice").remaining == 7  # 10 - 1 - 2, not 10 - 1 - 2 x retries


def test_a_stalled_set_is_retried_and_succeeds(server: Server, retrying: redis.Redis) -> None:
    with Memory(retrying) as mem:
        scope = mem.user("u")
        scope.set("k", "old")
        resume = _stall(server, 1.0)
        scope.set("k", "new")  # safe to send again: retried until the server answers
        resume.join()
        assert scope.get("k") == "new"


def test_a_connection_killed_while_idle_is_replaced_before_an_incr(
    server: Server,
) -> None:
    client = redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))
    with Memory(client) as mem:
        counter = mem.user("u")
        for expected in range(1, 21):
            admin = redis.Redis(port=server.port)
            admin.client_kill_filter(_type="normal", skipme=True)
            admin.close()
            assert counter.incr("n") == expected  # found dead before sending: no error
    client.close()


def test_an_unreachable_server_is_unavailable_not_unknown() -> None:
    with Memory("redis://127.0.0.1:1") as mem:  # nothing listens on port 1
        with pytest.raises(BackendUnavailableError) as caught:
            mem.user("u").incr("n")
        assert not isinstance(caught.value, OutcomeUnknownError)
        assert "unreachable" in str(caught.value)


def test_an_unreachable_cluster_is_a_pyredmem_error() -> None:
    with Memory("redis+cluster://127.0.0.1:1") as mem:  # discovered on first use
        with pytest.raises(BackendUnavailableError):
            mem.user("u").get("k")
        # so failure policies apply to it too
        assert mem.limiter("api", limit=1, period=60, on_error="allow").hit("k").allowed
        assert not mem.limiter("api", limit=1, period=60, on_error="deny").hit("k").allowed

    async def main() -> None:
        async with AsyncMemory("redis+cluster://127.0.0.1:1") as amem:
            with pytest.raises(BackendUnavailableError):
                await amem.user("u").get("k")
            limiter = amem.limiter("api", limit=1, period=60, on_error="allow")
            assert (await limiter.hit("k")).allowed

    asyncio.run(main())


def test_a_burst_gives_its_connections_back(server: Server) -> None:
    client = redis.Redis(port=server.port, max_connections=20)
    with Memory(client) as mem:
        counter = mem.user("u")
        threads = [threading.Thread(target=counter.incr, args=("n",)) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert counter.get("n") == 20
        pool = client.connection_pool
        assert len(pool._in_use_connections) <= 1  # the one kept for the next call
        for _ in range(19):  # the application's own commands still get connections
            assert client.get("pm:{:user:u}:nothing") is None
    client.close()


def test_threads_beyond_the_pool_size_wait_at_the_gate(server: Server) -> None:
    client = redis.Redis(port=server.port, max_connections=4)  # 3 slots for the memory
    with Memory(client) as mem:
        counter = mem.user("u")
        failures: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(10):
                    counter.incr("n")
            except BaseException as exc:  # noqa: BLE001 - collected for the assert below
                failures.append(exc)

        threads = [threading.Thread(target=work) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == [] and counter.get("n") == 400
        assert client.get("pm:{:user:u}:nothing") is None  # one left to the application
    client.close()


def test_the_gate_holds_at_most_its_slots_and_frees_them_on_errors() -> None:
    slots, go = Slots(3), threading.Event()
    entered = threading.Semaphore(0)

    def hold(fail: bool) -> None:
        try:
            with slots:
                entered.release()
                go.wait()
                if fail:
                    raise RuntimeError("a failed call")
        except RuntimeError:
            pass

    threads = [threading.Thread(target=hold, args=(n % 2 == 1,)) for n in range(4)]
    for t in threads:
        t.start()
    for _ in range(3):
        assert entered.acquire(timeout=10)
    assert not entered.acquire(timeout=0.2)  # the fourth waits for a slot
    go.set()
    assert entered.acquire(timeout=10)  # and gets one as the others leave
    for t in threads:
        t.join()
    taken = threading.Thread(target=lambda: [slots.__enter__() for _ in range(3)], daemon=True)
    taken.start()
    taken.join(timeout=10)
    assert not taken.is_alive()  # every slot was given back, the failed calls' too
    for wrong in (0, MAX_SLOTS + 1):
        with pytest.raises(ValueError):
            Slots(wrong)


def test_a_pool_without_a_real_bound_gets_no_gate(server: Server) -> None:
    """redis-py before 8.0 allows every pool 2**31 connections unless told otherwise."""
    client = redis.Redis(port=server.port, max_connections=2**31)
    with Memory(client) as mem:
        assert mem.user("u").incr("n") == 1
        assert mem._runner._gate is None  # type: ignore[attr-defined]
    client.close()


def test_an_exhausted_pool_says_so(server: Server) -> None:
    client = redis.Redis(port=server.port, max_connections=1)
    held = client.connection_pool.get_connection()  # the application holds the only one
    try:
        with Memory(client) as mem:
            with pytest.raises(PoolExhaustedError, match="max_connections"):
                mem.user("u").get("k")
    finally:
        client.connection_pool.release(held)
        client.close()


def test_async_callers_beyond_the_pool_size_all_get_through(server: Server) -> None:
    async def main() -> None:
        client = redis.asyncio.Redis(port=server.port)
        async with AsyncMemory(client) as amem:
            counter = amem.user("u")
            history = amem.user("u").history("t")
            cache = amem.cache("c", ttl=60)

            async def compute() -> str:
                await asyncio.sleep(0.05)
                return "v"

            results = await asyncio.gather(
                *(counter.incr("n") for _ in range(200)),
                *(history.append(Message.user(str(i))) for i in range(200)),
                *(cache.get_or_compute("k", compute) for _ in range(200)),
                return_exceptions=True,
            )
            errors = [r for r in results if isinstance(r, BaseException)]
            assert errors == []
            assert await counter.get("n") == 200 and await history.count() == 200
            assert len(client.connection_pool._in_use_connections) <= 1
        await client.aclose()

    asyncio.run(main())


def test_server_refusals_map_to_their_errors(server: Server) -> None:
    admin = redis.Redis(port=server.port)
    with Memory(redis.Redis(port=server.port)) as mem:
        scope = mem.user("u")
        scope.set("k", "v")
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            with pytest.raises(OutOfMemoryError) as oom:
                scope.set("k2", "x" * 1000)
            assert str(oom.value).startswith("the server is out of memory (maxmemory)")
            assert scope.get("k") == "v"  # reads still work
        finally:
            admin.config_set("maxmemory", 0)
        assert not scope.exists("k2")  # nothing partial was left
    admin.acl_setuser(
        "limited", enabled=True, passwords=["+pw"], keys=["pm:{acme:*"], commands=["+@all"]
    )
    with Memory(f"redis://limited:pw@127.0.0.1:{server.port}", tenant="globex") as outsider:
        with pytest.raises(PermissionDeniedError):
            outsider.user("u").get("k")
    with Memory(f"redis://limited:pw@127.0.0.1:{server.port}", tenant="acme") as insider:
        insider.user("u").set("k", 1)
        assert insider.user("u").get("k") == 1
    admin.close()


def test_a_write_to_a_replica_is_read_only(server: Server, tmp_path: object) -> None:
    admin = redis.Redis(port=server.port)
    admin.replicaof("127.0.0.1", 1)  # a replica of nothing: read-only, never synced
    try:
        with Memory(redis.Redis(port=server.port)) as mem:
            with pytest.raises(ReadOnlyError):
                mem.user("u").set("k", "v")
            assert mem.user("u").get("k") is None  # reads are served (EVALSHA_RO)
    finally:
        admin.replicaof("NO", "ONE")
        admin.close()


def test_translation_reads_codes_never_text() -> None:
    from redis import exceptions as rx

    cases = {
        rx.ResponseError("BUSY Redis is busy running a script"): BackendUnavailableError,
        rx.ClusterDownError("The cluster is down"): BackendUnavailableError,
        rx.MasterDownError("Link with MASTER is down"): BackendUnavailableError,
        rx.TryAgainError("Multiple keys request during rehashing of slot"): BackendUnavailableError,
        rx.BusyLoadingError("Redis is loading the dataset in memory"): BackendUnavailableError,
        rx.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"): OutOfMemoryError,
        rx.ReadOnlyError("You can't write against a read only replica."): ReadOnlyError,
        rx.NoPermissionError("this user has no permissions"): PermissionDeniedError,
        rx.AuthenticationError("invalid username-password pair"): PermissionDeniedError,
        rx.MaxConnectionsError("Too many connections"): PoolExhaustedError,
        rx.RedisClusterException("Redis Cluster cannot be connected"): BackendUnavailableError,
        rx.TimeoutError("Timeout reading from socket"): BackendUnavailableError,
    }
    for exc, cls in cases.items():
        error = translate(exc, key="k", scope="user:u")
        assert type(error) is cls, (exc, error)
        assert error.key == "k" and error.scope == "user:u"


@pytest.mark.real_server
def test_reads_go_through_a_write_pause(engine: Engine, url: str) -> None:
    with Memory(url) as mem:
        scope = mem.user("u")
        scope.set("k", "v")
        cache = mem.cache("c", ttl=60)
        cache.set("q", "a")
        ctx = mem.context(user="u", session="s")
        admins = [redis.Redis(port=s.port) for s in engine.servers]
        for admin in admins:
            admin.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        try:
            started = time.monotonic()
            assert scope.get("k") == "v" and scope.exists("k") and scope.keys() == ["k"]
            assert scope.get_many(["k"]) == {"k": "v"} and ctx.get("k") == "v"
            assert cache.get("q") == "a"
            assert scope.ttl("k") is None
            assert time.monotonic() - started < 1.0  # not held until the pause ends
        finally:
            for admin in admins:
                admin.execute_command("CLIENT", "UNPAUSE")
                admin.close()


def test_values_that_would_not_read_back_are_refused(mem: Memory) -> None:
    scope = mem.user("u")
    for bad in ({("a", "b"): 1}, [{"x": {frozenset([1]): 2}}]):
        with pytest.raises(SerializationError):
            scope.set("k", bad)
        with pytest.raises(SerializationError):
            scope.set_many({"ok": 1, "k": bad})
        with pytest.raises(SerializationError):
            mem.cache("c", ttl=60).set("q", bad)
    assert scope.keys() == [] and scope.get("k") is None
    scope.set("k", {"fine": [1, 2]})
    with pytest.raises(SerializationError):
        scope.update("k", lambda v: {(1, 2): v})
    assert scope.get("k") == {"fine": [1, 2]}
