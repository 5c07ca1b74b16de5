"""Change events under load: 8 writers of 1,000 mixed writes over 50 scopes, two watchers,
one of them killed halfway through and restarted from its last cursor. Each watcher ends
with exactly the events written (after dedupe by id), in each scope's order."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pyredmem import Memory
from tests.engines import Engine
from tests.event_workers import SCOPES, watch_to_file, write_mixed

WRITERS, EACH, IDLE = 8, 1000, 3.0


def _logged(url: str) -> dict[str, list[str]]:
    """Every event in the 50 scopes' logs, per scope, in log order (the ground truth)."""
    out: dict[str, list[str]] = {}
    with Memory(url) as mem:
        for s in range(SCOPES):
            scope, ids, since = mem.workflow(f"s{s}"), [], None
            while True:
                page = scope.changes(since=since, limit=1000)
                ids.extend(ev.id for ev in page)
                if len(page) < 1000:
                    break
                since = page[-1].id
            out[f"workflow:s{s}"] = ids
    return out


def _read(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split(" ")
        if len(parts) == 3:  # a line cut by the kill is dropped: its event is seen again
            rows.append((parts[0], parts[1]))
    return rows


def _check(rows: list[tuple[str, str]], truth: dict[str, list[str]], who: str) -> None:
    seen: dict[str, list[str]] = {}
    first: set[str] = set()
    for ev_id, scope in rows:
        if ev_id not in first:
            first.add(ev_id)
            seen.setdefault(scope, []).append(ev_id)
    for scope, ids in truth.items():
        assert seen.get(scope, []) == ids, f"{who}: {scope} differs"
    assert set(seen) <= set(truth), f"{who}: events of unknown scopes"


@pytest.mark.slow
def test_watchers_see_every_event_once_in_order_across_a_kill(
    engine: Engine, url: str, tmp_path: Path
) -> None:
    with Memory(url) as mem:
        start = mem.client.time()
    t0 = start[0] + start[1] / 1e6 - 0.001
    steady, killed = tmp_path / "steady.txt", tmp_path / "killed.txt"
    if engine.real:
        ctx = multiprocessing.get_context("spawn")
        steady_p = ctx.Process(target=watch_to_file, args=(url, str(steady), t0, IDLE))
        killed_p = ctx.Process(target=watch_to_file, args=(url, str(killed), t0, IDLE))
        steady_p.start()
        killed_p.start()
        with ctx.Pool(WRITERS) as pool:
            pending = pool.starmap_async(write_mixed, [(url, w, EACH) for w in range(WRITERS)])
            deadline = time.monotonic() + 60
            while (not killed.exists() or len(_read(killed)) < WRITERS * EACH // 4) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.02)
            os.kill(killed_p.pid or 0, signal.SIGKILL)  # halfway through the writes
            killed_p.join()
            cursor = _read(killed)[-1][0]
            assert not pending.ready(), "the writers finished before the kill"
            restarted = ctx.Process(target=watch_to_file, args=(url, str(killed), cursor, IDLE))
            restarted.start()
            assert sum(pending.get(timeout=120)) == WRITERS * EACH
        steady_p.join(timeout=60)
        restarted.join(timeout=60)
        assert steady_p.exitcode == 0 and restarted.exitcode == 0
    else:  # the embedded store lives in this process: threads share it
        stop_killed = threading.Event()

        def killable(after: float | str, out: Path) -> None:
            with Memory(url) as mem, out.open("a", buffering=1) as f:
                w = mem.watch("workflow:*", after=after, timeout=IDLE)
                for ev in w:
                    f.write(f"{ev.id} {ev.kind}:{ev.scope} {ev.op}\n")
                    if stop_killed.is_set():
                        w.close()
                        return

        with ThreadPoolExecutor(WRITERS + 3) as ex:
            steady_f = ex.submit(watch_to_file, url, str(steady), t0, IDLE)
            first = ex.submit(killable, t0, killed)
            writers = [ex.submit(write_mixed, url, w, EACH) for w in range(WRITERS)]
            while len(_read(killed)) < WRITERS * EACH // 4:
                time.sleep(0.02)
            stop_killed.set()
            first.result(timeout=60)
            assert not all(f.done() for f in writers), "the writers finished before the stop"
            stop_killed.clear()
            again = ex.submit(killable, _read(killed)[-1][0], killed)
            assert sum(f.result(timeout=120) for f in writers) == WRITERS * EACH
            steady_f.result(timeout=60)
            again.result(timeout=60)
    truth = _logged(url)
    assert sum(len(ids) for ids in truth.values()) == WRITERS * EACH
    _check(_read(steady), truth, "steady watcher")
    _check(_read(killed), truth, "restarted watcher")
