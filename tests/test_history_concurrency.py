"""8 writers x 500 appends to one thread with max_turns=100, on every engine: processes on
the servers, threads on the in-process engine (memory:// is shared within a process only)."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from typing import Any

import pytest

from pyredmem import Memory, Message
from tests.engines import Engine

WRITERS, APPENDS, MAX_TURNS = 8, 500, 100


def _seq(mid: str) -> tuple[int, int]:
    writer, i = mid[1:].split("-")
    return int(writer), int(i)


def append_many(url: str, writer: int, start: Any, out: Any) -> None:
    """One writer: append its messages one by one, collecting the turns each append evicts."""
    evicted: list[str] = []
    with Memory(url) as mem:
        h = mem.user("u").history("chat", max_turns=MAX_TURNS)
        h.messages()  # connected and scripts loaded before the race starts
        start.wait()
        for i in range(APPENDS):
            mid = f"w{writer}-{i:04d}"
            r = h.append(Message.user(mid, id=mid), return_evicted=True)
            assert r.evicted_count == len(r.evicted)
            evicted.extend(m.id for m in r.evicted)
    out.put(evicted)


def _run_processes(url: str) -> list[list[str]]:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=append_many, args=(url, w, start, out)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def _run_threads(url: str) -> list[list[str]]:
    import queue

    start: Any = threading.Barrier(WRITERS)
    out: queue.Queue[list[str]] = queue.Queue()
    threads = [
        threading.Thread(target=append_many, args=(url, w, start, out)) for w in range(WRITERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert out.qsize() == WRITERS
    return [out.get() for _ in threads]


@pytest.mark.slow
def test_concurrent_appends_keep_exactly_the_last_turns(engine: Engine, url: str) -> None:
    results = _run_processes(url) if engine.real else _run_threads(url)
    with Memory(url) as mem:
        h = mem.user("u").history("chat", max_turns=MAX_TURNS)
        retained = h.messages()
        ids = [m.id for m in retained]
        assert len(ids) == MAX_TURNS and len(set(ids)) == MAX_TURNS
        # each writer's messages keep its own order, in the thread and in what was evicted
        for seen in [ids, *results]:
            last: dict[int, int] = {}
            for mid in seen:
                w, i = _seq(mid)
                assert i > last.get(w, -1), mid
                last[w] = i
        # evicted plus retained is every message, each once
        everything = Counter([mid for r in results for mid in r] + ids)
        assert len(everything) == WRITERS * APPENDS
        assert set(everything.values()) == {1}
        # a second read sees the same turns
        assert retained == h.messages()
        # appending the same ids again changes nothing
        again = h.extend(retained, return_evicted=True)
        assert again.messages == () and again.evicted_count == 0
        assert len(again.skipped) == MAX_TURNS
        assert h.messages() == retained
