"""8 writers adding conflicting objects for one single-valued predicate at once, on every
engine (processes on the servers, threads on the in-process engine): at every world time
exactly one object stays valid, the history shows every claim, and each claim was the belief
at its own recording time."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import random
import threading
from typing import Any

import pytest

from pyredmem import Fact, Memory
from tests.engines import Engine

WRITERS, ADDS = 8, 60
UTC = dt.timezone.utc
T0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
MAX_VERSIONS = 10_000  # each add records up to 3 versions: the default 1,000 would refuse
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
US = dt.timedelta(microseconds=1)


def us(t: dt.datetime | None) -> int | None:
    """Whole microseconds since the epoch (exact, unlike a float timestamp)."""
    return None if t is None else (t - EPOCH) // US


def _facts(mem: Memory) -> Any:
    return mem.facts(scope=mem.user("alice"), max_versions=MAX_VERSIONS)


def add_many(url: str, writer: int, start: Any, out: Any) -> None:
    """One writer: claims of objects of its own at random world times after T0, a quarter
    of them with an end of their own."""
    rng = random.Random(writer)
    made: list[tuple[int, str, int | None, int | None, int | None]] = []
    with Memory(url) as mem:
        facts = _facts(mem)
        facts.get("alice", "lives_in")  # connected and functions loaded before the race
        start.wait()
        for i in range(ADDS):
            vf = T0 + dt.timedelta(days=rng.randrange(365), seconds=rng.randrange(86400))
            vt = vf + dt.timedelta(days=rng.randrange(1, 30)) if rng.random() < 0.25 else None
            f = facts.add("alice", "lives_in", f"w{writer}-{i}", valid_from=vf, valid_to=vt)
            made.append((f.id, f.object, us(f.valid_from), us(f.valid_to), us(f.recorded_from)))
    out.put(made)


def _run_processes(url: str) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=add_many, args=(url, w, start, out)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def _run_threads(url: str) -> list[Any]:
    start: Any = threading.Barrier(WRITERS)
    out: queue.Queue[Any] = queue.Queue()
    threads = [threading.Thread(target=add_many, args=(url, w, start, out)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert out.qsize() == WRITERS
    return [out.get() for _ in threads]


def _at(n: int) -> dt.datetime:
    return EPOCH + n * US


@pytest.mark.slow
def test_concurrent_conflicting_claims_keep_one_object_valid(engine: Engine, url: str) -> None:
    with Memory(url) as mem:
        _facts(mem).add("alice", "lives_in", "seed", valid_from=T0)  # valid from T0 on
    results = _run_processes(url) if engine.real else _run_threads(url)
    claims = [c for made in results for c in made]
    assert len(claims) == WRITERS * ADDS
    with Memory(url) as mem:
        facts = _facts(mem)
        history: list[Fact] = facts.history("alice", "lives_in")

        # the history shows every claim, as its add returned it, each recorded at its own time
        by_id = {f.id: f for f in history}
        for cid, obj, vf, vt, rf in claims:
            f = by_id[cid]
            assert (f.object, us(f.valid_from), us(f.valid_to), us(f.recorded_from)) == (
                obj,
                vf,
                vt,
                rf,
            )
        assert len({c[4] for c in claims}) == len(claims)  # recording times all differ
        assert {f.object for f in history} == {"seed", *(c[1] for c in claims)}
        assert [f.id for f in history] == sorted(by_id)

        # believed now: back to back from T0 on, open at the end: exactly one valid at
        # every world time
        believed = sorted((f for f in history if f.recorded_to is None), key=lambda f: f.valid_from)
        assert believed[0].valid_from == T0 and believed[-1].valid_to is None
        for a, b in zip(believed, believed[1:], strict=False):
            assert a.valid_to == b.valid_from, (a, b)
        step = max(1, len(believed) // 40)
        for f in believed[::step]:
            assert facts.get("alice", "lives_in", as_of=f.valid_from) == f.object
            if f.valid_to is not None:
                last = f.valid_to - dt.timedelta(microseconds=1)
                assert facts.get("alice", "lives_in", as_of=last) == f.object
        assert facts.get("alice", "lives_in", as_of=T0 - dt.timedelta(microseconds=1)) is None

        # each claim was the belief right after it was recorded, whatever came later
        for cid, obj, vf, _, rf in claims[:: max(1, len(claims) // 60)]:
            assert vf is not None and rf is not None
            got = facts.get("alice", "lives_in", as_of=_at(vf), known_at=_at(rf))
            assert got == obj, cid
