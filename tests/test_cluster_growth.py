"""A Redis Cluster that grows under a memory: a fourth primary joins, slots holding
pyredmem's keys move to it, and every operation family goes on working there, the data
written before the move read back, the library on the new node (copied there by redis-cli,
or loaded by the memory itself where the node lacks it).

The test builds its own cluster (no engine fixture) and stops every server it started."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from pyredmem import Memory, Message
from pyredmem._keys import key_slot
from pyredmem._scripts import LIBRARY
from tests.engines import Server, redis_server_binary, start_cluster

INSTANCES = 60  # per family; the slots moved are chosen to hold some of each
CLUSTER_ARGS = (
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "2000",
)


def _cli() -> str:
    return shutil.which("redis-cli") or str(Path(redis_server_binary()).with_name("redis-cli"))


def _run_cli(*args: str) -> None:
    subprocess.run([_cli(), "--cluster", *args], check=True, capture_output=True, timeout=60)


def _myid(port: int) -> str:
    with redis.Redis(port=port) as r:
        return str(r.execute_command("CLUSTER", "MYID").decode())


def _slots_of(port: int, node_port: int) -> list[int]:
    """The slots `node_port` serves, as the node on `port` sees the cluster."""
    with redis.Redis(port=port) as r:
        ranges = r.execute_command("CLUSTER", "SLOTS")
    return sorted(
        slot
        for start, end, primary, *_ in ranges
        if int(primary[1]) == node_port
        for slot in range(int(start), int(end) + 1)
    )


def _libraries(port: int) -> set[str]:
    with redis.Redis(port=port) as r:
        return {
            dict(zip(e[::2], e[1::2], strict=True))[b"library_name"].decode()
            for e in r.function_list()
        }


def _wait(predicate: object, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _tags(ports: list[int]) -> set[str]:
    """The hash tags of pyredmem's keys on the given primaries."""
    tags = set()
    for port in ports:
        with redis.Redis(port=port) as r:
            for key in r.scan_iter(match="pm:*", count=1000):
                text = key.decode()
                tags.add(text[text.index("{") + 1 : text.index("}")])
    return tags


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """A cluster of three primaries, then a fourth server, not yet a member."""
    root = Path(tempfile.mkdtemp(prefix="pyredmem-growth-"))
    started: list[Server] = []
    try:
        started.extend(start_cluster(root / "cluster", masters=3))
        started.append(Server(redis_server_binary(), root / "new", CLUSTER_ARGS).start())
        yield started
    finally:
        for s in started:
            s.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flush",
    [
        pytest.param(False, id="library-copied-by-redis-cli"),
        pytest.param(True, id="library-missing-on-the-new-node"),
    ],
)
def test_slots_moved_to_a_new_node_keep_every_operation_working(
    servers: list[Server], flush: bool
) -> None:
    *old, new = servers
    ports = [s.port for s in old]
    with Memory(f"redis+cluster://127.0.0.1:{old[0].port}") as mem:
        # before: data of every family, on every node
        for i in range(INSTANCES):
            user = mem.user(f"u{i}")
            user.set("prefs", {"n": i})
            user.set("visits", i)
            user.history("chat").extend([Message.user(f"hello {i}"), Message.assistant("hi")])
            mem.limiter("api", limit=10, period=3600, algorithm="fixed").hit(f"k{i}", cost=3)
            assert mem.cache(f"c{i}", ttl=3600).get_or_compute("answer", lambda i=i: i) == i

        # the slots to move: the first ones of the node serving slot 0 (what reshard takes
        # from a source), as many as it takes to hold instances of every family
        source = next(s for s in old if 0 in _slots_of(old[0].port, s.port))
        owned = _slots_of(old[0].port, source.port)
        on_source = {tag: key_slot("{" + tag + "}") for tag in _tags([source.port])}
        first: dict[str, int] = {}
        for tag, slot in on_source.items():
            family = tag.split(":")[1]  # user (scope and history), rl, cache
            first[family] = min(first.get(family, slot), owned.index(slot))
        assert set(first) == {"user", "rl", "cache"}, first
        count = max(first.values()) + 1
        moved = set(owned[:count])

        # a fourth primary joins; redis-cli copies the functions of an existing node to it;
        # with `flush` they are flushed there, as on a node joined by other means (CLUSTER
        # MEET, an older redis-cli) or restarted empty: the memory must load the library
        _run_cli("add-node", f"127.0.0.1:{new.port}", f"127.0.0.1:{source.port}")
        new_id = _myid(new.port)

        def joined() -> bool:
            for port in [*ports, new.port]:
                with redis.Redis(port=port) as r:
                    nodes = r.execute_command("CLUSTER", "NODES").decode()
                    if nodes.count("connected") < 4 or new_id not in nodes:
                        return False
                    if r.cluster("INFO").get("cluster_state") != "ok":
                        return False
            return True

        _wait(joined, "the new node to join")
        if flush:
            with redis.Redis(port=new.port) as r:
                r.execute_command("FUNCTION", "FLUSH")
        assert (LIBRARY.name in _libraries(new.port)) is not flush

        _run_cli(
            "reshard",
            f"127.0.0.1:{source.port}",
            "--cluster-from",
            _myid(source.port),
            "--cluster-to",
            new_id,
            "--cluster-slots",
            str(count),
            "--cluster-yes",
        )
        _wait(
            lambda: all(set(_slots_of(p, new.port)) == moved for p in [*ports, new.port]),
            "every node to see the moved slots on the new node",
        )
        here = {tag for tag in _tags([new.port])}
        assert here == {tag for tag, slot in on_source.items() if slot in moved}

        # after: every family, on keys the new node now serves, with the memory's stale
        # slot map (MOVED) and, with `flush`, no library on the node ("Function not found")
        users = sorted({tag.split(":")[2] for tag in here if tag.split(":")[1] == "user"})
        keys = sorted({tag.split(":")[3] for tag in here if tag.split(":")[1] == "rl"})
        caches = sorted({tag.split(":")[2] for tag in here if tag.split(":")[1] == "cache"})
        assert users and keys and caches
        for uid in users:
            i = int(uid[1:])
            user = mem.user(uid)
            assert user.get("prefs") == {"n": i}  # a read first (FCALL_RO)
            assert user.incr("visits") == i + 1
            user.set("after", "moved")
            assert user.get("after") == "moved"
            chat = user.history("chat")
            assert [m.content for m in chat.messages()] == [f"hello {i}", "hi"]
            turn = chat.append(Message.user("again"), read_last=3)
            assert [m.content for m in turn.context] == [f"hello {i}", "hi", "again"]
            assert len(chat) == 3
        limiter = mem.limiter("api", limit=10, period=3600, algorithm="fixed")
        for key in keys:
            assert limiter.peek(key).remaining == 7  # the hit made before the move
            assert limiter.hit(key, cost=2).remaining == 5
            assert limiter.peek(key).remaining == 5
        for name in caches:
            cache = mem.cache(name, ttl=3600)
            i = int(name[1:])
            assert cache.get_or_compute("answer", lambda: pytest.fail("computed again")) == i
            cache.delete("answer")
            assert cache.get_or_compute("answer", lambda i=i: i * 10) == i * 10
            assert cache.get("answer") == i * 10

        assert LIBRARY.name in _libraries(new.port)

        # the data that stayed where it was reads back too
        for i in range(INSTANCES):
            if f"u{i}" not in users:
                assert mem.user(f"u{i}").get("visits") == i
                assert len(mem.user(f"u{i}").history("chat")) == 2
