"""Memory: bytes per stored item, pyredmem beside the raw equivalent, on the same server.

Each measure starts from an empty database of its own (FLUSHDB), stores `count` items and
reads two figures: the growth of INFO memory's used_memory (every allocation: keys, values,
the main and expires dictionaries) and the sum of MEMORY USAGE (SAMPLES 0) over the keys
made; both divided by `count`. Each measure runs three times; the median counts.

- a history turn, a typical chat message (alternating a user question of 84 characters and
  an assistant answer of 226), one thread of `count` turns with a TTL, against a raw list
  (RPUSH, PEXPIRE) of the same messages as compact JSON with their id and time;
- a scope value, a small dict (msgpack, 55 bytes), against a raw SET of the same msgpack
  bytes under a key naming its scope ("pm:{:user:<id>}:<key>"): in scopes of 1, 10 and
  1,000 values (a scope's two keys are shared by its values);
- a limiter key after one hit of a new subject, per algorithm, against a raw counter
  (INCR + PEXPIRE) under a key as long as the gcra one.

Targets (issue "server cost"): a turn at most 1.0x its raw equivalent; a scope value's
overhead over the raw SET stated and at most 96 B; limiter keys gcra ~72 B, fixed ~104 B
(met within 10%), by MEMORY USAGE.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis

from pyredmem import Memory, Message, MsgpackCodec

DB = 9  # a database of its own, flushed before each measure
REPEAT = 3
QUESTION = "Could you remind me what we decided about the quarterly report format last week?"
ANSWER = (
    "You agreed to keep the two-page format: a summary table of revenue, costs and margin "
    "by region first, then three bullet points on risks. Charts move to an appendix, and "
    "Dana sends the draft to finance by the 5th of each month."
)
VALUE = {"theme": "dark", "language": "en", "timezone": "Europe/Paris", "beta": True, "n": 7}
ALGORITHMS = ("gcra", "fixed", "sliding")
LIMITER_TARGETS = {"gcra": 72, "fixed": 104}


def _messages(n: int) -> list[Message]:
    return [
        Message.user(f"{QUESTION} ({i})") if i % 2 == 0 else Message.assistant(f"{ANSWER} ({i})")
        for i in range(n)
    ]


def _measure(
    raw: Any, build: Callable[[], None], count: int, warm: Callable[[], Any]
) -> tuple[float, float]:
    """(used_memory growth, MEMORY USAGE sum) per item, the median of REPEAT runs. `warm`
    is a call on the connections `build` uses, just before: the server frees an idle
    connection's query buffer, and building would count its new one."""
    grown, usage = [], []
    for _ in range(REPEAT):
        raw.flushdb()
        warm()
        before = raw.info("memory")["used_memory"]
        build()
        after = raw.info("memory")["used_memory"]
        total = sum(raw.memory_usage(k, samples=0) for k in raw.scan_iter(count=1000))
        grown.append((after - before) / count)
        usage.append(total / count)
    return statistics.median(grown), statistics.median(usage)


def measure(url: str, count: int) -> dict[str, Any]:
    raw = redis.Redis.from_url(url, db=DB)
    out: dict[str, Any] = {}
    with Memory(f"{url}/{DB}") as mem:

        def warm() -> None:
            mem.user("warm").get("x")

        warm()  # the library loaded before anything is counted
        scope = mem.user("mem")

        # history turns
        messages = _messages(count)

        def turns() -> None:
            chat = scope.history("t", max_turns=count, ttl=3600)
            for i in range(0, count, 500):
                chat.extend(messages[i : i + 500])

        def raw_turns() -> None:
            now = round(time.time(), 3)
            bodies = [
                json.dumps(
                    {"id": m.id, "role": m.role, "content": m.content, "created_at": now},
                    separators=(",", ":"),
                )
                for m in messages
            ]
            pipe = raw.pipeline(transaction=False)
            for i in range(0, count, 500):
                pipe.rpush("pm:{:user:mem}:raw-thread", *bodies[i : i + 500])
            pipe.pexpire("pm:{:user:mem}:raw-thread", 3_600_000)
            pipe.execute()

        out["turn"] = (_measure(raw, turns, count, warm), _measure(raw, raw_turns, count, raw.ping))
        sample = json.dumps(
            {"id": messages[0].id, "role": "user", "content": QUESTION, "created_at": 0.0},
            separators=(",", ":"),
        )
        out["turn_json_bytes"] = len(sample)

        # scope values, in scopes of 1, 10 and 1,000 values
        payload = MsgpackCodec().encode(VALUE)
        out["payload_bytes"] = len(payload)
        for per in (1, 10, 1000):
            scopes = max(1, count // per)

            def values(per: int = per, scopes: int = scopes) -> None:
                for s in range(scopes):
                    handle = mem.user(f"mem-{s}")
                    for start in range(0, per, 1000):
                        handle.set_many(
                            {f"key-{k:04d}": VALUE for k in range(start, min(per, start + 1000))}
                        )

            def raw_values(per: int = per, scopes: int = scopes) -> None:
                pipe = raw.pipeline(transaction=False)
                for s in range(scopes):
                    for k in range(per):
                        pipe.set(f"pm:{{:user:mem-{s}}}:key-{k:04d}", payload)
                pipe.execute()

            n = per * scopes
            out[f"scope/{per}"] = (
                _measure(raw, values, n, warm),
                _measure(raw, raw_values, n, raw.ping),
            )

        # limiter keys, one subject each
        subjects = [f"user-{i:05d}" for i in range(count)]
        for alg in ALGORITHMS:
            lim = mem.limiter(f"m-{alg}", limit=10, period=60, algorithm=alg)

            def hits(lim: Any = lim) -> None:
                for s in subjects:
                    lim.hit(s)

            out[f"limiter/{alg}"] = _measure(raw, hits, count, warm)

        def counters() -> None:
            pipe = raw.pipeline(transaction=False)
            for s in subjects:
                key = f"pm:{{:rl:m-gcra:{s}}}:c"  # as long as the gcra key
                pipe.incr(key)
                pipe.pexpire(key, 60_001)
            pipe.execute()

        out["limiter/raw"] = _measure(raw, counters, count, raw.ping)
        raw.flushdb()
    raw.close()
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def render(m: dict[str, Any], count: int) -> str:
    lines = [
        f"\nMemory per stored item (bytes; {count} items per measure, median of {REPEAT})",
        f"{'item':44} {'used_memory':>11} {'MEMORY USAGE':>12}   {'raw equivalent':32} "
        f"{'used_memory':>11} {'MEMORY USAGE':>12} {'ratio':>6}  target",
    ]
    (ours, ours_mu), (theirs, theirs_mu) = m["turn"]
    lines.append(
        f"{'history turn (thread of ' + str(count) + ')':44} {ours:11.1f} {ours_mu:12.1f}   "
        f"{'RPUSH JSON (id, role, content, time)':32} {theirs:11.1f} {theirs_mu:12.1f} "
        f"{ours / theirs:6.2f}  <=1.0x {_verdict(ours <= theirs)}"
    )
    for per in (1, 10, 1000):
        (ours, ours_mu), (theirs, theirs_mu) = m[f"scope/{per}"]
        over = ours - theirs
        lines.append(
            f"{'scope value (' + str(per) + ' per scope)':44} {ours:11.1f} {ours_mu:12.1f}   "
            f"{'SET of the ' + str(m['payload_bytes']) + ' msgpack bytes':32} {theirs:11.1f} "
            f"{theirs_mu:12.1f} {ours / theirs:6.2f}  overhead {over:+.0f} B, <=96 "
            f"{_verdict(over <= 96)}"
        )
    raw_grown, raw_mu = m["limiter/raw"]
    for alg in ALGORITHMS:
        ours, ours_mu = m[f"limiter/{alg}"]
        target = LIMITER_TARGETS.get(alg)
        verdict = f"~{target} {_verdict(ours_mu <= 1.1 * target)}" if target else ""
        lines.append(
            f"{'limiter key (' + alg + ')':44} {ours:11.1f} {ours_mu:12.1f}   "
            f"{'INCR + PEXPIRE counter':32} {raw_grown:11.1f} {raw_mu:12.1f} "
            f"{ours_mu / raw_mu:6.2f}  {verdict}"
        )
    return "\n".join(lines)


def run(url: str, n: int) -> str:
    count = max(1000, min(n, 5000))
    return render(measure(url, count), count)
