"""pyredmem benchmarks: every operation against the raw redis-py command it replaces.

    python bench/run.py              # all rows, 5,000 calls each side
    python bench/run.py -n 20000     # more calls
    python bench/run.py --only scope # rows of one module

Starts its own redis-server (Debian's, or PYREDMEM_REDIS_SERVER) on a free loopback port,
runs each row against raw redis-py (hiredis) in the same run, a few through asyncio, then the
same operations on the embedded default (memory://, fakeredis + lupa), for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
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

MODULES = ["rows_scope", "rows_cache", "rows_history", "rows_limiter"]


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
    parser.add_argument("--only", help="run the rows of modules whose name contains this")
    args = parser.parse_args()

    server = Server(redis_server_binary(), Path(tempfile.mkdtemp(prefix="pyredmem-bench-")))
    server.start()
    try:
        url = f"redis://127.0.0.1:{server.port}"
        print(
            f"redis-server {redis.Redis(port=server.port).info()['redis_version']} at {url}, "
            f"redis-py {redis.__version__}, {args.n} calls per side"
        )
        with Memory(url) as mem:
            raw = redis.Redis(port=server.port)
            results = [measure(row, args.n) for row in collect(mem, raw, args.only)]
        print(render("Redis (TCP loopback): pyredmem vs raw redis-py", results))
        if not args.only or args.only in "rows_async":
            results = asyncio.run(_async_results(url, args.n))
            print(render("asyncio (TCP loopback): AsyncMemory vs raw redis.asyncio", results))
        with Memory("memory://bench") as mem:
            raw = mem.client
            results = [measure(row, max(args.n // 5, 500)) for row in collect(mem, raw, args.only)]
        print(render("Embedded default (memory://, fakeredis + lupa)", results, targets=False))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
