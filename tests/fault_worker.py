"""One worker process of tests/test_faults.py: a mix of memory operations on one server for
a fixed time, recording what was acknowledged and every exception it saw. The result is
written as JSON to `out` (never raised: the parent judges it)."""

from __future__ import annotations

import json
import time
import traceback
from collections import Counter
from typing import Any

from pyredmem import Memory, Message, OutcomeUnknownError, PyRedMemError

# shared by every worker and read back by the parent
COUNTER_SCOPE = "shared"
COUNTER_KEY = "n"
LIMITER_NAME = "faults"
LIMITER_SUBJECT = "everyone"
LIMIT = 50
CACHE_KEYS = 8


def cache_value(key: str) -> str:
    return f"computed:{key}"


def run(url: str, worker: int, seconds: float, period: int, out: str, ready: Any, go: Any) -> None:
    """Run the mix on `url` for `seconds` once `go` (a multiprocessing Event) is set; put
    `worker` on the `ready` queue first."""
    errors: Counter[str] = Counter()
    foreign: Counter[str] = Counter()  # exceptions that are not PyRedMemErrors
    acked_sets: dict[str, str] = {}
    acked_ids: list[str] = []
    ops: Counter[str] = Counter()
    incr_acked = incr_unknown = 0
    hit_admitted = hit_denied = hit_unknown = 0
    cache_wrong = 0
    first_trace = ""
    pending_id: str | None = None  # an append that failed: sent again with the same id

    mem = Memory(url)
    scope = mem.user(f"w{worker}")
    counter = mem.user(COUNTER_SCOPE)
    history = scope.history("t")
    limiter = mem.limiter(LIMITER_NAME, limit=LIMIT, period=period, algorithm="fixed")
    cache = mem.cache("c", ttl=2)
    ready.put(worker)
    go.wait(60)
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        i += 1
        kind = ("set", "append", "incr", "hit", "cache")[i % 5]
        ops[kind] += 1
        try:
            if kind == "set":
                key, value = f"k{i}", f"v{worker}:{i}"
                scope.set(key, value)
                acked_sets[key] = value
            elif kind == "append":
                mid = pending_id or f"w{worker}-m{i}"
                pending_id = mid
                history.append(Message.user(f"turn {i}", id=mid))
                pending_id = None
                acked_ids.append(mid)
            elif kind == "incr":
                try:
                    counter.incr(COUNTER_KEY)
                    incr_acked += 1
                except OutcomeUnknownError:
                    incr_unknown += 1
                    raise
            elif kind == "hit":
                try:
                    decision = limiter.hit(LIMITER_SUBJECT)
                except OutcomeUnknownError:
                    hit_unknown += 1
                    raise
                if decision.allowed:
                    hit_admitted += 1
                else:
                    hit_denied += 1
            else:
                key = f"q{i % CACHE_KEYS}"
                if cache.get_or_compute(key, lambda key=key: cache_value(key)) != cache_value(key):
                    cache_wrong += 1
        except PyRedMemError as exc:
            errors[f"{kind}/{type(exc).__name__}"] += 1
        except Exception as exc:  # what the test exists to catch: reported, not raised
            name = f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:300]
            if not foreign:
                first_trace = traceback.format_exc()
            foreign[name] += 1
    mem.close()
    result = {
        "worker": worker,
        "ops": dict(ops),
        "errors": dict(errors),
        "foreign": dict(foreign),
        "first_trace": first_trace,
        "acked_sets": acked_sets,
        "acked_ids": acked_ids,
        "pending_id": pending_id,
        "incr_acked": incr_acked,
        "incr_unknown": incr_unknown,
        "hit_admitted": hit_admitted,
        "hit_denied": hit_denied,
        "hit_unknown": hit_unknown,
        "cache_wrong": cache_wrong,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)
