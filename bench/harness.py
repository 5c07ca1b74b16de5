"""Measuring an operation against the raw redis-py command it replaces, in the same run.

Both sides run interleaved in small blocks so that drift (CPU frequency, other load) hits
them alike; we report per-call p50/p99 and the ratio of the p50s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Row:
    """One benchmark line: `op` (pyredmem) against `baseline` (raw redis-py)."""

    name: str
    op: Callable[[], Any]
    baseline_name: str = ""
    baseline: Callable[[], Any] | None = None
    target: float | None = None  # the p50 ratio we aim to stay under


@dataclass(frozen=True)
class Result:
    row: Row
    p50: float  # microseconds
    p99: float
    base_p50: float | None
    base_p99: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.base_p50 is None else self.p50 / self.base_p50


def bare(client: Any, *command: Any) -> Callable[[], Any]:
    """`command` sent on one of `client`'s connections directly (as pyredmem's direct lane
    sends its scripts), without redis-py's per-command machinery: the floor under any
    client, for reference."""
    conn = client.connection_pool.get_connection()
    packed = conn.pack_command(*command)

    def send() -> Any:
        conn.send_packed_command(packed)
        return conn.read_response()

    return send


def _time(fn: Callable[[], Any], n: int, out: list[float]) -> None:
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000)


def _pct(samples: list[float], q: float) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if q < 100 else max(samples)
    )


def measure(row: Row, n: int, block: int = 100) -> Result:
    for _ in range(min(n, 200)):  # warm connections, scripts and caches
        row.op()
        if row.baseline:
            row.baseline()
    ours: list[float] = []
    base: list[float] = []
    while len(ours) < n:
        _time(row.op, block, ours)
        if row.baseline:
            _time(row.baseline, block, base)
    return Result(
        row,
        statistics.median(ours),
        _pct(ours, 99),
        statistics.median(base) if base else None,
        _pct(base, 99) if base else None,
    )


async def _time_async(fn: Callable[[], Any], n: int, out: list[float]) -> None:
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        await fn()
        out.append((clock() - t0) / 1000)


async def measure_async(row: Row, n: int, block: int = 100) -> Result:
    """`measure` for rows whose op and baseline return awaitables (one event loop)."""
    for _ in range(min(n, 200)):
        await row.op()
        if row.baseline:
            await row.baseline()
    ours: list[float] = []
    base: list[float] = []
    while len(ours) < n:
        await _time_async(row.op, block, ours)
        if row.baseline:
            await _time_async(row.baseline, block, base)
    return Result(
        row,
        statistics.median(ours),
        _pct(ours, 99),
        statistics.median(base) if base else None,
        _pct(base, 99) if base else None,
    )


def render(title: str, results: list[Result], *, targets: bool = True) -> str:
    """A table of `results`; `targets=False` leaves out the targets (they are for Redis)."""
    lines = [
        f"\n{title}",
        f"{'operation':38} {'p50 us':>8} {'p99 us':>8}   {'raw command':24} {'p50 us':>8} "
        f"{'p99 us':>8} {'ratio':>6} {'target':>7}",
    ]
    for r in results:
        base = (
            f"{r.row.baseline_name:24} {r.base_p50:8.1f} {r.base_p99:8.1f} {r.ratio:6.2f}"
            if r.base_p50 is not None and r.base_p99 is not None and r.ratio is not None
            else f"{'':24} {'':>8} {'':>8} {'':>6}"
        )
        target = f"<={r.row.target:.2f}" if targets and r.row.target and r.ratio else ""
        verdict = ""
        if targets and r.row.target and r.ratio is not None:
            verdict = "  ok" if r.ratio <= r.row.target else "  OVER"
        lines.append(f"{r.row.name:38} {r.p50:8.1f} {r.p99:8.1f}   {base} {target:>7}{verdict}")
    return "\n".join(lines)
