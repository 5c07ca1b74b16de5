"""Facts rows: add vs HSET, get vs HGET (the store a dict per user under one key gives).

On a server (not the embedded store) a third row, for reference, times the floor of an add
against the same HSET: a bare registered function running only the commands an add cannot do
without (TIME HMGET HSET ZADD, bench/server_cost.py's `pmbench_facts_add`), sent on a
connection of its own with no client work around it. It takes about 0.9x the HSET (whose
client work, redis-py's, outweighs the floor's extra server time): what the add takes beyond
it is its own server time past the floor and pyredmem's client work.
"""

from __future__ import annotations

import itertools
from typing import Any

from bench.harness import Row
from bench.server_cost import LIBRARY, facts_add_floor
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

    found = [
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
    if raw is mem.client or not hasattr(raw, "function_load"):
        return found  # the embedded store: no floor row
    raw.function_load(LIBRARY, replace=True)
    floor_keys = mem.user("bench-facts-floor").facts._stores[0].keys
    raw.delete(*floor_keys)
    found.insert(
        1,
        Row(
            "  its floor (bare FCALL, no client work)",
            facts_add_floor(raw, floor_keys, payload),
            "HSET",
            lambda: raw.hset("raw:facts", "alice:lives_in", payload),
        ),
    )
    return found
