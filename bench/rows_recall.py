"""Recall: search latency at 1k and 10k items of 384 dimensions with the client cache cold
(the first search of a process: the whole index read) and warm (one small call), and after
one add (a delta of one item), excluding embedding time (the embedder returns vectors made
beforehand); the same cold and warm with encryption at rest (vectors decrypted as the cache
loads, hits' records opened); add throughput; bytes per item in Redis; the hashing
embedder's speed."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from pyredmem import HashingEmbedder, Memory, _embed
from pyredmem._ops import recall as ops

DIM = 384
KEY = bytes(range(32))
#: targets (ms, p50 on TCP loopback): warm and cold search at 1k and 10k items
TARGETS = {
    ("warm", 1000): 2.0,
    ("warm", 10_000): 15.0,
    ("cold", 1000): 10.0,
    ("cold", 10_000): 40.0,
}
SENTENCE = "my sister moved to Montreal last spring and she loves the jazz festival there"


class Prepared:
    """An embedder of vectors made beforehand (a text "v<n>" is vector n), so that the
    rows time pyredmem, not a model."""

    name = "bench-prepared"
    dimension = DIM

    def __init__(self, count: int) -> None:
        rnd = random.Random(1)
        self.vectors = [[rnd.gauss(0, 1) for _ in range(DIM)] for _ in range(count)]

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[int(t[1:]) % len(self.vectors)] for t in texts]


def _p50_ms(fn: Callable[[], Any], n: int, before: Callable[[], Any] | None = None) -> float:
    samples = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def _fill(mem: Memory, size: int, embedder: Prepared) -> tuple[Any, float]:
    rec = mem.recall(scope=mem.user(f"bench-recall-{size}"), embedder=embedder)
    rec.clear()
    t0 = time.perf_counter()
    for n in range(0, size, 500):
        rec.add_many([{"text": f"v{i}", "kind": "note"} for i in range(n, min(n + 500, size))])
    return rec, size / (time.perf_counter() - t0)


def _searches(
    rec: Any, runner: Any, size: int, reps: int, sealed: bool = False
) -> list[tuple[str, float, float | None]]:
    """(row, p50 ms, target ms) of searches: cache cold, warm, and after one add (`sealed`:
    with encryption, cold and warm only, no targets)."""

    def search() -> None:
        rec.search("v7", k=10)

    def cold() -> None:
        ops._CACHES.pop(runner, None)

    counter = iter(range(size, 10**9))

    def add() -> None:
        rec.add(f"v{next(counter)}")

    search()
    if sealed:
        return [
            ("encrypted, cache cold", _p50_ms(search, reps, cold), None),
            ("encrypted, cache warm", _p50_ms(search, reps), None),
        ]
    return [
        ("cache cold", _p50_ms(search, reps, cold), TARGETS[("cold", size)]),
        ("cache warm", _p50_ms(search, reps), TARGETS[("warm", size)]),
        ("after one add (a delta)", _p50_ms(search, reps, add), None),
    ]


def run(mem: Memory, raw: Any, n: int) -> str:
    embedder = Prepared(20_000)
    runner = mem._runner
    lines = [
        "",
        f"Recall, exact backend (int8, {DIM} dimensions; scoring with "
        f"{'numpy' if _embed.NUMPY is not None else 'plain Python'}; no embedding time)",
        f"{'row':48} {'value':>12}   target",
    ]

    def line(name: str, value: str, target: str = "") -> None:
        lines.append(f"{name:48} {value:>12}   {target}")

    for size in (1000, 10_000):
        rec, rate = _fill(mem, size, embedder)
        reps = max(5, min(50, n // 100)) if size > 1000 else max(10, min(200, n // 25))
        for name, p50, target in _searches(rec, runner, size, reps):
            verdict = "" if target is None else ("ok" if p50 <= target else "OVER")
            bound = "" if target is None else f"<= {target} ms {verdict}"
            line(f"search p50, {size:,} items, {name}", f"{p50:.2f} ms", bound)
        line(f"add_many throughput, {size:,} items", f"{rate:,.0f} /s")
        used = sum(raw.memory_usage(k, samples=0) or 0 for k in rec._store.keys)
        line(f"bytes per item in Redis, {size:,} items", f"{used / rec.info().count:,.0f} B")
        rec.clear()
        with Memory(mem.client, namespace="bench-sealed", encryption_key=KEY) as sealed:
            rec, rate = _fill(sealed, size, embedder)
            for name, p50, _ in _searches(rec, sealed._runner, size, reps, sealed=True):
                line(f"search p50, {size:,} items, {name}", f"{p50:.2f} ms")
            line(f"add_many throughput, {size:,} items, encrypted", f"{rate:,.0f} /s")
            rec.clear()

    single = mem.recall(scope=mem.user("bench-recall-add"), embedder=embedder)
    single.clear()
    counter = iter(range(10**9))
    line(
        "add p50 (one item)",
        f"{_p50_ms(lambda: single.add(f'v{next(counter)}'), 500) * 1000:.0f} us",
    )
    single.clear()

    hashing = HashingEmbedder()
    texts = [f"{SENTENCE} {i}" for i in range(2000)]
    t0 = time.perf_counter()
    hashing.embed(texts)
    line("HashingEmbedder, 14-word texts", f"{len(texts) / (time.perf_counter() - t0):,.0f} /s")
    return "\n".join(lines)
