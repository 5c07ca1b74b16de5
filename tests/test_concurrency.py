"""No lost updates: many writers on one key, 8 processes on servers, 8 threads embedded."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from pyredmem import Memory
from tests.engines import Engine
from tests.workers import update_and_incr

WRITERS, EACH = 8, 500


@pytest.mark.slow
def test_concurrent_update_and_incr_lose_nothing(engine: Engine, url: str) -> None:
    if engine.real:
        with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:
            done = pool.starmap(update_and_incr, [(url, EACH)] * WRITERS)
    else:  # the embedded store lives in this process: threads share it
        with ThreadPoolExecutor(WRITERS) as ex:
            done = list(ex.map(update_and_incr, [url] * WRITERS, [EACH] * WRITERS))
    assert sum(done) == WRITERS * EACH
    with Memory(url) as mem:
        scope = mem.workflow("shared")
        assert scope.get("doc") == {"count": WRITERS * EACH}
        assert scope.get("counter") == WRITERS * EACH
