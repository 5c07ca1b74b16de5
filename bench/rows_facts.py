"""Facts rows: add vs HSET, get vs HGET (the store a dict per user under one key gives)."""

from __future__ import annotations

import itertools
from typing import Any

from bench.harness import Row
from pyredmem import Memory, MsgpackCodec

CITIES = ("Tokyo", "Osaka", "Kyoto", "Sapporo")
SUBJECTS = 1000  # adds cycle over them: each closes the subject's open claim
PER_SCOPE = 20_000  # adds per scope before the next (two versions each: under the cap)


def rows(mem: Memory, raw: Any) -> list[Row]:
    payload = MsgpackCodec().encode("Tokyo")
    facts = mem.user("bench-facts").facts
    facts.clear()
    facts.add("alice", "lives_in", "Tokyo")
    raw.hset("raw:facts", "alice:lives_in", payload)
    counter = itertools.count()
    stores: dict[int, Any] = {}

    def add() -> Any:
        n = next(counter)
        scope = n // PER_SCOPE
        if scope not in stores:
            stores[scope] = mem.user(f"bench-facts-add-{scope}").facts
            stores[scope].clear()
        city = CITIES[(n // SUBJECTS) % len(CITIES)]
        return stores[scope].add(f"s{n % SUBJECTS}", "lives_in", city)

    return [
        Row(
            "facts.add (closes the open claim)",
            add,
            "HSET",
            lambda: raw.hset("raw:facts", "alice:lives_in", payload),
            1.5,
        ),
        Row(
            "facts.get (now)",
            lambda: facts.get("alice", "lives_in"),
            "HGET",
            lambda: raw.hget("raw:facts", "alice:lives_in"),
            1.3,
        ),
    ]
