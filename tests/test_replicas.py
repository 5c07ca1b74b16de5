"""Reads from replicas: a cluster with a replica per primary, and a primary with a replica
behind a Redis Sentinel (`redis+sentinel://`). Writes go to the primaries; read-only calls
(FCALL_RO / EVALSHA_RO) to the replicas, which answer what was written once they caught up."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyredmem import AsyncMemory, ConfigurationError, Memory, Message
from tests.engines import Server, free_port, redis_server_binary, start_cluster

pytestmark = [pytest.mark.slow]

# messages() of a thread read without a sliding expiry is a plain LRANGE
READS = ("fcall_ro", "evalsha_ro", "eval_ro", "lrange")


def _reads(port: int) -> int:
    stats = redis.Redis(port=port).info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in READS)


def _role(port: int) -> str:
    return str(redis.Redis(port=port).info("replication")["role"])


def _caught_up(ports: list[int]) -> None:
    """Wait until every primary's writes reached its replica."""
    for port in ports:
        if _role(port) == "master":
            assert redis.Redis(port=port).execute_command("WAIT", 1, 5000) >= 1


@pytest.fixture(scope="module")
def replicated_cluster() -> Iterator[list[Server]]:
    root = Path(tempfile.mkdtemp(prefix="pyredmem-replicas-"))
    servers = start_cluster(root, masters=3, replicas=1)
    deadline = time.monotonic() + 30  # replicas sync, then the slot map lists them
    probe = redis.Redis(port=servers[0].port)
    while any(len(r) < 4 for r in probe.execute_command("CLUSTER", "SLOTS")):
        assert time.monotonic() < deadline, "the slot map lists no replica"
        time.sleep(0.2)
    probe.close()
    try:
        yield servers
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_cluster_reads_go_to_replicas(replicated_cluster: list[Server]) -> None:
    ports = [s.port for s in replicated_cluster]
    replicas = [p for p in ports if _role(p) == "slave"]
    before = sum(_reads(p) for p in replicas)
    url = f"redis+cluster://127.0.0.1:{ports[0]}"
    with Memory(url, read_from_replicas=True) as mem:
        users = [mem.user(f"u{i}") for i in range(30)]  # scopes spread over every slot range
        for i, user in enumerate(users):
            user.set("k", i)
            user.history("t").append(Message.user(f"hello {i}"))
        _caught_up(ports)
        for i, user in enumerate(users):
            assert user.get("k") == i
            assert [m.content for m in user.history("t").messages()] == [f"hello {i}"]
        assert users[0].incr("k") == 1  # writes still reach the primary
    assert sum(_reads(p) for p in replicas) - before >= 60  # the reads were the replicas'

    async def main() -> None:
        async with AsyncMemory(url, read_from_replicas=True) as amem:
            assert await amem.user("u3").get("k") == 3

    asyncio.run(main())


def _sentinel(workdir: Path, master_port: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = workdir / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor main 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds main 1000\n"
    )
    proc = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            client = redis.Redis(port=port, socket_timeout=0.5)
            slaves = client.sentinel_slaves("main")
            client.close()
            if slaves:
                return proc, port
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "the sentinel did not see the replica"
        time.sleep(0.1)


def test_sentinel_url_writes_to_the_primary_and_reads_from_replicas() -> None:
    root = Path(tempfile.mkdtemp(prefix="pyredmem-sentinel-"))
    binary = redis_server_binary()
    primary = Server(binary, root / "primary").start()
    replica = Server(binary, root / "replica", ("--replicaof", "127.0.0.1", "0")).start()
    proc = None
    try:
        redis.Redis(port=replica.port).replicaof("127.0.0.1", primary.port)
        proc, port = _sentinel(root, primary.port)
        url = f"redis+sentinel://127.0.0.1:{port}/main"
        with Memory(url) as mem:  # the primary for everything
            mem.user("a").set("k", "v")
            assert mem.user("a").get("k") == "v"
        before = _reads(replica.port)
        with Memory(url, read_from_replicas=True) as mem:
            mem.user("a").set("k", "w")
            assert redis.Redis(port=primary.port).execute_command("WAIT", 1, 5000) == 1
            assert mem.user("a").get("k") == "w"
            assert mem.limiter("api", limit=3, period=60).peek("x").remaining == 3
        assert _reads(replica.port) - before >= 2
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(5)
        replica.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_read_from_replicas_needs_replicas() -> None:
    with pytest.raises(ConfigurationError, match="read_from_replicas"):
        Memory("redis://127.0.0.1:1", read_from_replicas=True)
    with pytest.raises(ConfigurationError, match="read_from_replicas"):
        Memory(read_from_replicas=True)
    with pytest.raises(ConfigurationError, match="sentinel"):
        Memory("redis+sentinel://127.0.0.1:26379/main/db")
