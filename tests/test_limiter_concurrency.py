"""8 workers hammering one key for 2 s: limits hold exactly, on every engine.

Real servers get 8 processes ("spawn"); the in-process store, shared only within one
process, gets 8 threads."""

from __future__ import annotations

import math
import multiprocessing
import queue
import threading
import time
from typing import Any

import pytest

from pyredmem import Memory
from tests.engines import Engine
from tests.hammer import GROUP, TOKENS_PER_CALL, hammer, many_limiters

WORKERS, SECONDS = 8, 2.0
# of the fixed windows (h-fixed, h-user), aligned to the epoch: the run and the peeks that
# follow it must lie inside one window, which an hour leaves time for (a window of 10 s
# sometimes ended before the final peek on the cluster, which then found it empty)
PERIOD = 3600.0
MARGIN = 60.0  # seconds from the go to the last peek, at most: the run, then the workers exit
GCRA_INTERVAL = 0.1  # 100 per 10 s


def _wait_for_a_quiet_window(engine: Engine) -> None:
    """Sleep, if needed (rarely: MARGIN / PERIOD of the time), so that the run and the peeks
    after it lie inside one fixed window of the server's clock."""
    now = time.time()  # the in-process store's clock
    if engine.real:
        client = engine.raw_client()
        seconds, micros = client.time()
        client.close()
        now = seconds + micros / 1e6
    left = PERIOD - now % PERIOD
    if left < MARGIN:
        time.sleep(left + 0.05)


def _run(engine: Engine, url: str) -> list[dict[str, Any]]:
    if engine.real:
        ctx = multiprocessing.get_context("spawn")
        barrier: Any = ctx.Barrier(WORKERS + 1)
        out: Any = ctx.Queue()
        workers: list[Any] = [
            ctx.Process(target=hammer, args=(url, w, SECONDS, barrier, out)) for w in range(WORKERS)
        ]
    else:
        barrier, out = threading.Barrier(WORKERS + 1), queue.Queue()
        workers = [
            threading.Thread(target=hammer, args=(url, w, SECONDS, barrier, out))
            for w in range(WORKERS)
        ]
    for w in workers:
        w.start()
    try:
        barrier.wait(timeout=120)  # every worker is connected and ready
        _wait_for_a_quiet_window(engine)
        barrier.wait(timeout=30)  # go
        results = [out.get(timeout=60) for _ in workers]
    except BaseException:
        barrier.abort()  # release the workers
        raise
    finally:
        for w in workers:
            w.join(timeout=30)
    return results


def _merged(results: list[dict[str, Any]], name: str) -> list[tuple[float, float]]:
    return sorted(stamp for r in results for stamp in r["admitted"][name])


@pytest.mark.slow
def test_eight_workers_get_exactly_what_the_limits_allow(
    engine: Engine, url: str, mem: Memory
) -> None:
    results = _run(engine, url)

    assert len(_merged(results, "fixed")) == 100
    assert len(_merged(results, "sliding")) == 100

    # gcra, burst 100: 100 at once, then one per 0.1 s. The k-th admission at server time s
    # needs k <= 100 + (s - first)/0.1, and a denial at s means fewer than that so far.
    gcra = _merged(results, "gcra")
    n, first_sent, first_done = len(gcra), gcra[0][0], min(done for _, done in gcra)
    last_done = max(done for _, done in gcra)
    assert n <= 100 + math.floor((last_done - first_sent) / GCRA_INTERVAL + 1e-9) and n <= 120
    last_denied = max(r["last_denied"].get("gcra", 0.0) for r in results)
    assert n >= 99 + math.floor((last_denied - first_done) / GCRA_INTERVAL)

    # sliding, 20 per 0.5 s: no half-second holds more than 20 admissions
    short = _merged(results, "short")
    assert len(short) > 40
    for i, (start, _) in enumerate(short):
        inside = sum(1 for sent, done in short[i:] if sent >= start and done < start + 0.5)
        assert inside <= 20

    # all or nothing: what each limit holds matches the admitted calls exactly
    many = [(r["worker"], len(r["admitted"]["many"])) for r in results]
    total = sum(count for _, count in many)
    assert total == 150 // TOKENS_PER_CALL
    user, org, tokens = many_limiters(mem)
    for u in (0, 1):
        spent = sum(count for w, count in many if w % 2 == u)
        assert spent <= 40
        assert user.peek(f"u{u}", group=GROUP).remaining == 40 - spent
    assert round(org.peek("acme", group=GROUP).remaining) == 60 - total
    assert tokens.peek("acme", group=GROUP).remaining == 0
