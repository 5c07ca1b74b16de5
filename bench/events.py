"""Change events: what logging them costs a write, how soon a watcher hears of one, how
many a watcher keeps up with, and what a near-cache hit saves.

1. Writes with events on against the same writes with events off (two Memories on one
   server, interleaved): client p50 through redis-py, and the server's µs per call (INFO
   commandstats: cmdstat_fcall, the best of several rounds, as bench/server_cost.py). With
   events on, a write also runs XADD (the event) and PEXPIRE (the log's retention).
   Targets: at most 1.3x on both.
2. Write-to-callback latency: `on_change` on one scope's key pattern, one writer setting a
   key every 0.5 ms; the time from just before the `set` until the callback runs (so it
   includes the write's own round trip). Targets: p50 <= 1 ms, p99 <= 10 ms.
3. Events per second one watcher keeps up with: WRITER_PROCESSES processes write through
   `mem.batch()` (1,000 sets per round trip) as fast as they can for EVENT_SECONDS while
   one watcher (`mem.watch`) in this process counts what it gets; reported: the writers'
   rate, the watcher's rate over the same window, and how far behind it ended (events still
   to deliver when the writers stopped, and how long it took to drain them). Target:
   20,000 events/s delivered without falling behind (a lag that does not grow).
4. A near-cache hit against a shared-cache hit (`mem.cache(..., near=True)` vs the plain
   cache), client p50. Target: at least 20x faster.
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
import time
from typing import Any

from bench.harness import Row, measure
from bench.server_cost import Measure
from pyredmem import Memory, Message

ROUNDS = 8
TEXT = "Could you remind me what we decided about the quarterly report format last week?"
VALUE = {"theme": "dark", "language": "en", "timezone": "Europe/Paris", "beta": True, "n": 7}
CALLBACK_WRITES = 2000
EVENT_SECONDS = 5.0
WRITER_PROCESSES = 1


def _cost_rows(url: str, raw: Any, n: int) -> list[str]:
    lines = [
        "",
        "Writes with change events on vs off (client p50 us; server us per call)",
        f"{'operation':28} {'off p50':>8} {'on p50':>8} {'ratio':>6}   "
        f"{'off srv':>8} {'on srv':>8} {'ratio':>6}  target",
    ]
    with Memory(url) as off, Memory(url, events=True) as on:
        pairs: list[tuple[str, Any, Any]] = []
        a, b = off.user("bench-ev-off"), on.user("bench-ev-on")
        pairs.append(("scope.set", lambda: a.set("prefs", VALUE), lambda: b.set("prefs", VALUE)))
        pairs.append(("scope.incr", lambda: a.incr("n"), lambda: b.incr("n")))
        ta = a.history("chat", max_turns=200, ttl=3600)
        tb = b.history("chat", max_turns=200, ttl=3600)
        pairs.append(
            (
                "history.append",
                lambda: ta.append(Message.user(TEXT)),
                lambda: tb.append(Message.user(TEXT)),
            )
        )
        ca, cb = off.cache("bench-ev-off", ttl=600), on.cache("bench-ev-on", ttl=600)
        pairs.append(("cache.set", lambda: ca.set("k", VALUE), lambda: cb.set("k", VALUE)))
        for name, op_off, op_on in pairs:
            client = measure(Row(name, op_on, "events off", op_off), n)
            m_off, m_on = Measure("off", op_off), Measure("on", op_on)
            for _ in range(ROUNDS):
                m_off.round(raw, max(200, n // 4))
                m_on.round(raw, max(200, n // 4))
            srv = m_on.best / m_off.best
            ok = "ok" if (client.ratio or 0) <= 1.3 and srv <= 1.3 else "OVER"
            lines.append(
                f"{name:28} {client.base_p50 or 0:8.1f} {client.p50:8.1f} {client.ratio or 0:6.2f}"
                f"   {m_off.best:8.2f} {m_on.best:8.2f} {srv:6.2f}  <=1.30 {ok}"
            )
    return lines


def _callback_latency(url: str) -> list[str]:
    sent: dict[str, float] = {}
    delays: list[float] = []
    done = threading.Event()

    def on_event(ev: Any) -> None:
        t = sent.get(ev.key)
        if t is not None:
            delays.append((time.perf_counter() - t) * 1000)
            if len(delays) >= CALLBACK_WRITES:
                done.set()

    with Memory(url, events=True) as mem:
        scope = mem.workflow("bench-latency")
        handle = mem.on_change("workflow:bench-latency", on_event, keys="k*")
        try:
            time.sleep(0.5)  # subscribed
            for i in range(CALLBACK_WRITES):
                key = f"k{i}"
                sent[key] = time.perf_counter()
                scope.set(key, i)
                time.sleep(0.0005)
            done.wait(10)
        finally:
            handle.close()
    if not delays:
        return ["", "write-to-callback latency: no event arrived"]
    q = statistics.quantiles(delays, n=100, method="inclusive")
    p50, p99 = statistics.median(delays), q[98]
    verdict = "met" if p50 <= 1 and p99 <= 10 else "missed"
    return [
        "",
        f"Write-to-callback latency, {len(delays)} of {CALLBACK_WRITES} events: "
        f"p50 {p50:.2f} ms, p99 {p99:.2f} ms (targets 1 ms / 10 ms: {verdict})",
    ]


def _writer(url: str, seconds: float, worker: int, out: Any) -> None:
    with Memory(url, events=True) as mem:
        scopes = [mem.workflow(f"bench-rate-{worker}-{s}") for s in range(50)]
        n, i, end = 0, 0, time.monotonic() + seconds
        while time.monotonic() < end:
            with mem.batch() as b:
                for _ in range(1000):
                    b.on(scopes[i % 50]).set("k", i)
                    i += 1
            n += 1000
    out.put(n)


def _event_rate(url: str) -> list[str]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    got = 0
    with Memory(url) as mem:
        watch = mem.watch("workflow:bench-rate-*", timeout=3.0)
        it = iter(watch)
        procs = [
            ctx.Process(target=_writer, args=(url, EVENT_SECONDS, w, out))
            for w in range(WRITER_PROCESSES)
        ]
        for p in procs:
            p.start()
        first = last = stop_at = None
        written = None
        for _ in it:
            got += 1
            now = time.perf_counter()
            if first is None:
                first = now
            last = now
            if stop_at is None and not any(p.is_alive() for p in procs):
                stop_at, behind_at_stop = now, got
            if written is None and stop_at is not None:
                written = sum(out.get() for _ in procs)
            if written is not None and got >= written:
                break
        watch.close()
        for p in procs:
            p.join()
        if written is None:
            written = sum(out.get() for _ in procs)
    if first is None or last is None:
        return ["", "events/s: no event arrived"]
    span = last - first
    rate = got / span if span else 0.0
    wrate = written / EVENT_SECONDS
    drain = (last - stop_at) if stop_at else 0.0
    behind = written - behind_at_stop if stop_at else 0
    verdict = "met" if rate >= 20_000 and got >= written else "missed"
    return [
        "",
        f"One watcher: {WRITER_PROCESSES} writer process(es) wrote {written:,} events in "
        f"{EVENT_SECONDS:.0f} s ({wrate:,.0f}/s, batches of 1,000); the watcher delivered "
        f"{got:,} at {rate:,.0f}/s, {behind:,} still to deliver when the writers stopped, "
        f"drained in {drain * 1000:.0f} ms (target 20,000/s: {verdict})",
    ]


def _near_cache(url: str, n: int) -> list[str]:
    with Memory(url, events=True) as mem:
        shared = mem.cache("bench-shared", ttl=600)
        near = mem.cache("bench-near", ttl=600, near=True)
        shared.set("k", VALUE)
        near.set("k", VALUE)
        assert near.get("k") == VALUE and shared.get("k") == VALUE
        r = measure(
            Row("cache.get near hit", lambda: near.get("k"), "shared hit", lambda: shared.get("k")),
            n,
        )
    speed = (r.base_p50 or 0) / r.p50 if r.p50 else 0.0
    verdict = "met" if speed >= 20 else "missed"
    return [
        "",
        f"Near cache: a hit {r.p50:.2f} us p50 against {r.base_p50 or 0:.1f} us for a shared "
        f"hit: {speed:.0f}x faster (target 20x: {verdict})",
    ]


def run(url: str, raw: Any, n: int) -> str:
    lines = _cost_rows(url, raw, n)
    lines += _callback_latency(url)
    lines += _event_rate(url)
    lines += _near_cache(url, n)
    return "\n".join(lines)
