"""History under eviction and write pauses: a key of a thread deleted by hand (as allkeys-lru
eviction would) is repaired by the next write (every expiry set again, appends still
idempotent); reads never write, so they keep working while writes are paused."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from pyredmem import Memory, Message, OutOfMemoryError
from tests.engines import Engine, Server

P = "pm:{:user:u}"
L, IDS, TA, TX = f"{P}:t:t:l", f"{P}:t:t:i", f"{P}:ta", f"{P}:tx"
TTL_MS = 100_000


def _expiries(mem: Memory) -> dict[str, int]:
    return {key: mem.client.pttl(key) for key in (L, IDS, TA, TX)}


def _assert_all_expire(mem: Memory) -> None:
    for key, left in _expiries(mem).items():
        assert 0 < left <= TTL_MS, (key, left)


@pytest.mark.parametrize("lost", ["l", "i", "ta", "tx"])
def test_an_append_after_a_key_was_evicted_repairs_the_thread(mem: Memory, lost: str) -> None:
    h = mem.user("u").history("t", ttl=TTL_MS / 1000)
    other = mem.user("u").history("other", ttl=TTL_MS / 1000)
    a, b = Message.user("a", id="a"), Message.user("b", id="b")
    h.extend([a, b])
    other.append(Message.user("o"))
    mem.client.delete({"l": L, "i": IDS, "ta": TA, "tx": TX}[lost])
    r = h.extend([a, Message.user("c", id="c")])
    if lost == "l":  # the turns are gone: "a" is stored again, once
        assert [m.id for m in r.messages] == ["a", "c"]
        assert [m.id for m in h.messages()] == ["a", "c"]
    else:  # the id index, rebuilt from the list when lost, still knows "a"
        assert r.skipped == ("a",) and [m.id for m in r.messages] == ["c"]
        assert [m.id for m in h.messages()] == ["a", "b", "c"]
    _assert_all_expire(mem)
    _assert_totals_match(mem)
    assert h.append(b if lost != "l" else a).messages == ()  # idempotent again
    assert "t" in [t.id for t in mem.user("u").threads()]
    if lost not in ("ta", "tx"):
        assert {t.id for t in mem.user("u").threads()} == {"t", "other"}
    assert mem.user("u").thread_count() >= 1


def _assert_totals_match(mem: Memory) -> None:
    """I's totals ("<tokens> <bytes>") are those of the entries L holds, and I names them."""
    entries = mem.client.lrange(L, 0, -1)
    tokens = sum(int.from_bytes(e[11:19], "big") for e in entries)
    assert mem.client.hget(IDS, "") == f"{tokens} {sum(map(len, entries))}".encode()
    assert mem.client.hlen(IDS) == len(entries) + 1


@pytest.mark.parametrize("batch", [["a", "b"], ["b"], ["c", "a", "c", "b"]])
def test_an_append_of_known_ids_after_the_list_was_evicted_stores_them(
    mem: Memory, batch: list[str]
) -> None:
    """The id index outlived the list: it names turns no longer there, so every id of the
    batch is new again (once each, in order), and the totals count only what L holds."""
    h = mem.user("u").history("t", max_tokens=1000, ttl=TTL_MS / 1000)
    h.extend([Message.user(c * 3, id=c, tokens=7) for c in "ab"])
    mem.client.delete(L)
    r = h.extend([Message.user(c * 3, id=c, tokens=5) for c in batch])
    once = list(dict.fromkeys(batch))
    again = tuple(c for i, c in enumerate(batch) if c in batch[:i])
    assert [m.id for m in r.messages] == once and r.skipped == again
    assert [m.id for m in h.messages()] == once
    _assert_totals_match(mem)
    _assert_all_expire(mem)
    assert h.extend([Message.user("x", id=c) for c in batch]).messages == ()


@pytest.mark.parametrize("lost", ["i", "ta", "tx"])
def test_a_compaction_after_a_key_was_evicted_repairs_the_thread(mem: Memory, lost: str) -> None:
    h = mem.user("u").history("t", ttl=TTL_MS / 1000)
    h.extend([Message.user(str(i), id=str(i)) for i in range(4)])
    mem.client.delete({"i": IDS, "ta": TA, "tx": TX}[lost])
    summary = h.compact(lambda ms: "sum", keep_last=2)
    assert summary is not None
    assert [m.id for m in h.messages()] == [summary.id, "2", "3"]
    _assert_all_expire(mem)
    assert h.append(Message.user("again", id="3")).skipped == ("3",)
    assert h.extend([Message.user("x", id="0")]).messages != ()  # summarised away: new again


def test_a_read_rearms_a_list_that_lost_its_expiry(mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=TTL_MS / 1000)
    h.append(Message.user("a"))
    mem.client.persist(L)
    mem.client.persist(IDS)
    assert [m.content for m in h.messages()] == ["a"]  # due: the read's touch re-arms it
    _assert_all_expire(mem)
    fixed = mem.user("u").history("t", ttl=TTL_MS / 1000, sliding=False)
    mem.client.persist(L)
    fixed.messages()
    assert mem.client.pttl(L) == -1  # sliding=False leaves the expiry alone


def test_listing_skips_expired_threads_without_writing(mem: Memory) -> None:
    scope = mem.user("u")
    for name in ("t0", "t1", "t2", "t3"):
        scope.history(name, ttl=60).append(Message.user(name))
        time.sleep(0.003)
    mem.client.zadd(TX, {"t2": 1, "t0": 1})  # as if they had expired
    assert [t.id for t in scope.threads()] == ["t3", "t1"]
    assert [t.id for t in scope.threads(offset=1, limit=1)] == ["t1"]
    assert scope.threads(offset=2) == [] and scope.thread_count() == 2
    assert mem.client.zcard(TA) == 4  # the next write adding a thread purges them
    scope.history("t4", ttl=60).append(Message.user("t4"))
    assert mem.client.zcard(TA) == 3 and mem.client.zcard(TX) == 3


@pytest.mark.real_server
@pytest.mark.standalone
def test_reads_answer_during_a_write_pause(engine: Engine, mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=TTL_MS / 1000)
    h.extend([Message.user("a"), Message.user("b")])
    scope = mem.user("u")
    reads = {
        "messages": lambda: [m.content for m in h.messages(last=5, max_tokens=100)],
        "len": lambda: len(h),
        "ttl": lambda: h.ttl() is not None,
        "threads": lambda: [t.id for t in scope.threads()],
        "thread_count": scope.thread_count,
    }
    expected = {
        "messages": ["a", "b"],
        "len": 2,
        "ttl": True,
        "threads": ["t"],
        "thread_count": 1,
    }
    for read in reads.values():
        read()  # scripts loaded, connections made
    pauser: redis.Redis = engine.raw_client()
    pauser.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
    try:
        started = time.monotonic()
        got = {name: read() for name, read in reads.items()}
        elapsed = time.monotonic() - started
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
    assert got == expected
    assert elapsed < 1.0  # the reads did not wait for the pause to end


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_write_waits_for_a_pause_that_reads_pass(engine: Engine, mem: Memory) -> None:
    h = mem.user("u").history("t", ttl=TTL_MS / 1000)
    h.append(Message.user("a"))
    pauser: redis.Redis = engine.raw_client()
    pauser.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
    done = threading.Event()
    writer = threading.Thread(target=lambda: (h.append(Message.user("b")), done.set()))
    try:
        writer.start()
        assert [m.content for m in h.messages()] == ["a"]  # the write is still held
        assert not done.is_set()
    finally:
        pauser.execute_command("CLIENT", "UNPAUSE")
        writer.join()
    assert [m.content for m in h.messages()] == ["a", "b"]


def test_writes_at_maxmemory_are_refused_whole(server: Server) -> None:
    admin = redis.Redis(port=server.port)
    with Memory(f"redis://127.0.0.1:{server.port}") as mem:
        h = mem.user("u").history("t")
        h.extend([Message.user(str(i), id=str(i)) for i in range(4)])
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            for write in (
                lambda: mem.user("u").history("new").append(Message.user("x")),
                lambda: h.fork("copy"),
                lambda: h.compact(lambda ms: "summary", keep_last=2),
                lambda: h.append(Message.user("more")),
            ):
                with pytest.raises(OutOfMemoryError):
                    write()
        finally:
            admin.config_set("maxmemory", 0)
            admin.close()
        assert [m.id for m in h.messages()] == ["0", "1", "2", "3"]
        assert [t.id for t in mem.user("u").threads()] == ["t"]
        assert len(mem.user("u").history("copy")) == 0
