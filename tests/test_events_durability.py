"""A server killed and restarted with AOF on while a watcher listens: the watcher resumes,
and every acknowledged write's event reaches it, in each scope's order."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pyredmem import Event, Memory, PyRedMemError
from tests.engines import Server, redis_server_binary

SCOPES = 20


@pytest.mark.slow
def test_a_watcher_misses_no_acknowledged_write_across_an_aof_restart() -> None:
    server = Server(
        redis_server_binary(),
        Path(tempfile.mkdtemp(prefix="pyredmem-aof-")),
        extra=("--appendonly", "yes", "--appendfsync", "always"),
    ).start()
    url = f"redis://127.0.0.1:{server.port}"
    acked: list[tuple[str, str]] = []  # (scope, key) of every set that returned
    delivered: list[Event] = []
    stop, late = threading.Event(), threading.Event()
    errors = 0

    def write() -> None:
        nonlocal errors
        with Memory(url, events=True) as mem:
            i = 0
            while not stop.is_set():
                # once the server is back, each write goes to a scope of its own, written
                # once: one the watcher missed while away is found only by its catch-up
                sid = f"late{i}" if late.is_set() else f"u{i % SCOPES}"
                key = f"k{i}"
                try:
                    mem.user(sid).set(key, i)
                except PyRedMemError:
                    errors += 1  # unacknowledged: it may or may not have been written
                    time.sleep(0.05)
                else:
                    acked.append((sid, key))
                i += 1
                time.sleep(0.001)

    try:
        with Memory(url) as reader:
            w = reader.watch("user:*")
            w.start()
            listener = threading.Thread(target=lambda: delivered.extend(w))
            listener.start()
            writer = threading.Thread(target=write)
            writer.start()
            time.sleep(1.0)
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGKILL)  # no shutdown: the AOF is what survives
            server.proc.wait()
            before = len(acked)
            time.sleep(0.3)
            server.start()  # the same port and directory: the AOF is loaded back
            late.set()
            time.sleep(0.5)
            stop.set()
            writer.join(30)
            want = set(acked)
            deadline = time.monotonic() + 15
            while not want <= {(e.scope, e.key) for e in list(delivered)}:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            truth = {}
            for s in range(SCOPES):
                truth[f"u{s}"] = [e.id for e in reader.user(f"u{s}").changes(limit=1000)]
            w.close()
            listener.join(5)
            assert not listener.is_alive()
    finally:
        server.stop()
    # the writes went on across the kill (a write the kill caught either failed or was sent
    # again by the client's retries once the server was back)
    assert 0 < before < len(acked), "the kill should have come between writes"
    got = {(e.scope, e.key) for e in delivered}
    missing = set(acked) - got
    assert not missing, f"{len(missing)} acknowledged writes never reached the watcher"
    first: dict[str, list[str]] = {}
    seen: set[str] = set()
    for e in delivered:
        if e.id not in seen:
            seen.add(e.id)
            first.setdefault(e.scope, []).append(e.id)
    for sid, ids in truth.items():
        assert [i for i in first.get(sid, []) if i in set(ids)] == ids, f"user:{sid} order"
    assert len(acked) > 300 and any(sid.startswith("late") for sid, _ in acked)
