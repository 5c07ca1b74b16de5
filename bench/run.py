"""pyredmem benchmarks: every operation against the raw redis-py command it replaces.

    python bench/run.py                # everything, 5,000 calls each side
    python bench/run.py -n 20000       # more calls
    python bench/run.py --only scope   # rows of one module (rows_scope)
    python bench/run.py --only server  # one section: server, memory or throughput
    python bench/run.py --awake        # with the machine's cores kept from sleeping

A loopback round trip costs what waking the server's and the client's threads costs: on a
virtual machine whose idle cores sleep, ~100 µs; on a busy one (a fleet's server), ~25. The
latency ratios depend on it (a fixed server cost weighs more against a short round trip),
so `--awake` runs a process that only yields its core (sched_yield: it gives way to any
runnable thread at once) for the whole run, to measure the short round trip too.

Starts its own redis-server (Debian's, or PYREDMEM_REDIS_SERVER) on a free loopback port,
runs each row against raw redis-py (hiredis) in the same run, a few through asyncio, then the
same operations on the embedded default (memory://, fakeredis + lupa), for reference. Then,
on the same server, the sections after the latency table: the server's own µs per call
beside its floors (bench/server_cost.py), bytes per stored item (bench/memory_usage.py) and
calls per second in pipelines (bench/throughput.py), what change events cost and how
fast they arrive (bench/events.py), the server's µs per call with encryption on and off
(bench/rows_crypto.py), key rotation's values per second (bench/rows_reencrypt.py), and
recall's search latency, add throughput and bytes per item (bench/rows_recall.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import redis.asyncio  # noqa: E402

from bench.harness import Result, Row, measure, measure_async, render  # noqa: E402
from pyredmem import AsyncMemory, Memory  # noqa: E402
from tests.engines import Server, redis_server_binary  # noqa: E402

MODULES = ["rows_scope", "rows_cache", "rows_history", "rows_limiter", "rows_facts", "rows_crypto"]
# after the latency table (rows_crypto: what encryption costs the server)
SECTIONS = [
    "server_cost",
    "memory_usage",
    "throughput",
    "events",
    "rows_crypto",
    "rows_reencrypt",
    "rows_recall",
]


def collect(mem: Memory, raw: redis.Redis, only: str | None) -> list[Row]:
    rows: list[Row] = []
    for name in MODULES:
        if only and only not in name:
            continue
        rows.extend(importlib.import_module(f"bench.{name}").rows(mem, raw))
    return rows


async def _async_results(url: str, n: int) -> list[Result]:
    from bench import rows_async

    async with AsyncMemory(url) as mem:
        raw = redis.asyncio.Redis.from_url(url)
        try:
            return [await measure_async(row, n) for row in await rows_async.rows(mem, raw)]
        finally:
            await raw.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="calls per side and row")
    parser.add_argument("--only", help="run the row modules and sections whose name contains this")
    parser.add_argument(
        "--awake", action="store_true", help="keep the cores from sleeping (short round trips)"
    )
    args = parser.parse_args()
    only = args.only
    latency = any(not only or only in name for name in MODULES)

    server = Server(redis_server_binary(), Path(tempfile.mkdtemp(prefix="pyredmem-bench-")))
    server.start()
    awake = subprocess.Popen([sys.executable, "-c", _YIELD]) if args.awake else None
    try:
        url = f"redis://127.0.0.1:{server.port}"
        print(
            f"redis-server {redis.Redis(port=server.port).info()['redis_version']} at {url}, "
            f"redis-py {redis.__version__}, {args.n} calls per side"
            + (", cores kept awake" if args.awake else "")
        )
        raw = redis.Redis(port=server.port)
        if latency:
            with Memory(url) as mem:
                results = [measure(row, args.n) for row in collect(mem, raw, only)]
            print(render("Redis (TCP loopback): pyredmem vs raw redis-py", results))
        if not only or only in "rows_async":
            results = asyncio.run(_async_results(url, args.n))
            print(render("asyncio (TCP loopback): AsyncMemory vs raw redis.asyncio", results))
        sections = [name for name in SECTIONS if not only or only in name]
        if sections:
            print(f"\nredis-server {raw.info()['redis_version']}: " + ", ".join(sections))
        for name in sections:
            section = importlib.import_module(f"bench.{name}")
            if name == "memory_usage":
                print(section.run(url, args.n))
                continue
            if name == "events":
                print(section.run(url, raw, args.n))
                continue
            with Memory(url) as mem:
                print(section.run(mem, raw, args.n))
        if latency:
            with Memory("memory://bench") as mem:
                embedded = mem.client
                n = max(args.n // 5, 500)
                results = [measure(row, n) for row in collect(mem, embedded, only)]
            print(render("Embedded default (memory://, fakeredis + lupa)", results, targets=False))
    finally:
        if awake is not None:
            awake.kill()
            awake.wait()
        server.stop()
    return 0


_YIELD = "import os\nwhile True:\n    os.sched_yield()"


if __name__ == "__main__":
    sys.exit(main())
