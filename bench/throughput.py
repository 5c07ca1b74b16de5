"""Throughput from one Python process: scope gets and history appends per second, sent in
pipelines of 1,000 calls.

Each call is built by pyredmem's ops layer (`scope_get(...)`, `history_append(...)`: the
keys and arguments it would send, the message encoded), sent as FCALL_RO/FCALL of its
function (`SCRIPTS[...].function_ro` / `.function`) in a redis-py pipeline (hiredis), and
its reply parsed by the call (values decoded, appends' results made): end to end, as a
batch API would run them; and, where the tree has it, through `mem.batch()` itself.
Appends take Messages made beforehand. For reference, the same
pipelines of raw GET and RPUSH, which neither build nor parse anything. Rounds of
PIPELINES pipelines; the best round and the median are reported, and the median
is held to the targets.

Targets (issue "server cost"): >= 100,000 scope gets/s and >= 50,000 appends/s.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from pyredmem import Memory, Message, MsgpackCodec
from pyredmem._ops import history as history_ops
from pyredmem._ops import scope as scope_ops
from pyredmem._scripts import SCRIPTS

BATCH = 1000
PIPELINES = 5
ROUNDS = 5
TEXT = "Could you remind me what we decided about the quarterly report format last week?"
VALUE = {"theme": "dark", "language": "en", "timezone": "Europe/Paris", "beta": True, "n": 7}
TARGETS = {
    "scope.get": 100_000,
    "history.append": 50_000,
    "scope.get, mem.batch()": 100_000,
    "history.append, mem.batch()": 50_000,
}


class Phases:
    """Where a batch's time goes, summed over the calls timed: building the calls, the
    pipeline (packing, sending, the server, reading the replies), parsing."""

    def __init__(self) -> None:
        self.spent = {"build": 0.0, "pipeline": 0.0, "parse": 0.0}
        self.calls = 0
        self._t = 0.0

    def start(self) -> None:
        self._t = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.spent[phase] += now - self._t
        self._t = now

    def per_call(self) -> dict[str, float]:
        """µs per call of each phase."""
        return {k: 1e6 * v / max(self.calls, 1) for k, v in self.spent.items()}


Rate = tuple[float, float, dict[str, float]]


def _rate(batch: Callable[[int, Phases], Any]) -> Rate:
    """(best, median) calls per second over ROUNDS rounds of PIPELINES pipelines, and µs
    per call of each phase."""
    batch(0, Phases())  # warm
    rates = []
    phases = Phases()
    for r in range(ROUNDS):
        t0 = time.perf_counter()
        for p in range(PIPELINES):
            batch(1 + r * PIPELINES + p, phases)
        rates.append(PIPELINES * BATCH / (time.perf_counter() - t0))
        phases.calls += PIPELINES * BATCH
    return max(rates), statistics.median(rates), phases.per_call()


def measure(mem: Memory, raw: Any) -> dict[str, Rate]:
    user = mem.user("bench-throughput")
    user.set("prefs", VALUE)
    target = user._t
    get_fn = SCRIPTS["scope_get"].function_ro
    assert get_fn

    def gets(_: int, t: Phases) -> list[Any]:
        t.start()
        calls = [scope_ops.scope_get(target, "prefs") for _ in range(BATCH)]
        t.lap("build")
        pipe = raw.pipeline(transaction=False)
        for c in calls:
            pipe.execute_command("FCALL_RO", get_fn, len(c.keys), *c.keys, *c.args)
        replies = pipe.execute()
        t.lap("pipeline")
        out = [c.parse(reply) for c, reply in zip(calls, replies, strict=True)]
        t.lap("parse")
        assert out[-1] == VALUE
        return out

    chat = user.history("throughput", max_turns=2000, ttl=3600)
    thread = chat._t
    append_fn = SCRIPTS["history_append"].function
    messages = [[Message.user(TEXT) for _ in range(BATCH)] for _ in range(1 + ROUNDS * PIPELINES)]

    def appends(i: int, t: Phases) -> list[Any]:
        t.start()
        calls = [history_ops.history_append(thread, [m], False) for m in messages[i]]
        t.lap("build")
        pipe = raw.pipeline(transaction=False)
        for c in calls:
            pipe.execute_command("FCALL", append_fn, len(c.keys), *c.keys, *c.args)
        replies = pipe.execute()
        t.lap("pipeline")
        out = [c.parse(reply) for c, reply in zip(calls, replies, strict=True)]
        t.lap("parse")
        assert len(out[-1].messages) == 1
        return out

    payload = MsgpackCodec().encode(VALUE)
    turn = MsgpackCodec().encode(["user", TEXT])
    raw.set("raw:throughput", payload)

    def raw_gets(_: int, t: Phases) -> Any:
        t.start()
        pipe = raw.pipeline(transaction=False)
        for _ in range(BATCH):
            pipe.get("raw:throughput")
        out = pipe.execute()
        t.lap("pipeline")
        return out

    def raw_pushes(_: int, t: Phases) -> Any:
        t.start()
        pipe = raw.pipeline(transaction=False)
        for _ in range(BATCH):
            pipe.rpush("raw:throughput-list", turn)
        pipe.ltrim("raw:throughput-list", -2000, -1)
        out = pipe.execute()
        t.lap("pipeline")
        return out

    out = {"scope.get": _rate(gets), "history.append": _rate(appends)}
    if hasattr(mem, "batch"):  # the public batch API, where this tree has it
        # build: queuing; pipeline: the block's end (sending, the server, parsing)
        def batch_gets(_: int, t: Phases) -> list[Any]:
            t.start()
            with mem.batch() as b:  # type: ignore[attr-defined]
                s = b.on(user)
                pending = [s.get("prefs") for _ in range(BATCH)]
                t.lap("build")
            t.lap("pipeline")
            values = [p.result() for p in pending]
            t.lap("parse")
            assert values[-1] == VALUE
            return values

        def batch_appends(i: int, t: Phases) -> list[Any]:
            t.start()
            with mem.batch() as b:  # type: ignore[attr-defined]
                h = b.on(chat)
                pending = [h.append(m) for m in messages[i]]
                t.lap("build")
            t.lap("pipeline")
            done = [p.result() for p in pending]
            t.lap("parse")
            assert len(done[-1].messages) == 1
            return done

        out["scope.get, mem.batch()"] = _rate(batch_gets)
        out["history.append, mem.batch()"] = _rate(batch_appends)
    out["raw GET"] = _rate(raw_gets)
    out["raw RPUSH"] = _rate(raw_pushes)
    return out


def render(m: dict[str, Rate]) -> str:
    lines = [
        f"\nThroughput, one process, pipelines of {BATCH:,} (calls/s; "
        f"{ROUNDS} rounds of {PIPELINES} pipelines; µs per call: build, pipeline, parse)",
        f"{'calls':28} {'best':>10} {'median':>10} {'build':>7} {'pipeline':>9} {'parse':>7}"
        "  target",
    ]
    for name, (best, median, phases) in m.items():
        target = TARGETS.get(name)
        verdict = ""
        if target:
            verdict = f">= {target:,} {'met' if median >= target else 'MISSED'} (median)"
        lines.append(
            f"{name:28} {best:10,.0f} {median:10,.0f} {phases['build']:7.2f} "
            f"{phases['pipeline']:9.2f} {phases['parse']:7.2f}  {verdict}"
        )
    return "\n".join(lines)


def run(mem: Memory, raw: Any, n: int) -> str:
    return render(measure(mem, raw))
