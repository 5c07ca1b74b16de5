"""Cache rows: a hit (get, get_or_compute) vs GET, and set vs SET with PX."""

from __future__ import annotations

from typing import Any

from bench.harness import Row
from pyredmem import Memory, MsgpackCodec

VALUE = {"answer": "Paris is the capital of France.", "model": "m-1", "tokens": [12, 9]}


def rows(mem: Memory, raw: Any) -> list[Row]:
    payload = MsgpackCodec().encode(VALUE)
    cache = mem.cache("bench", ttl=3600)
    cache.set("q", VALUE)
    raw.set("raw:q", payload, px=3_600_000)

    def never() -> Any:
        raise AssertionError("a hit never computes")

    return [
        Row("cache.get (hit)", lambda: cache.get("q"), "GET", lambda: raw.get("raw:q"), 1.3),
        Row(
            "cache.get_or_compute (hit)",
            lambda: cache.get_or_compute("q", never),
            "GET",
            lambda: raw.get("raw:q"),
            1.35,
        ),
        Row(
            "cache.set",
            lambda: cache.set("q", VALUE),
            "SET PX",
            lambda: raw.set("raw:q", payload, px=3_600_000),
            1.5,
        ),
    ]
