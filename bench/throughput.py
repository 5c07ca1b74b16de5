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

Then chat turns per second (`measure_turns`): a turn appends the user's message, reads the
context for the model (the last 20 turns within 2,000 tokens), then appends the assistant's
reply; 16 concurrent clients, each with conversations of its own, for TURN_SECONDS, in three
shapes: (a) append, then `messages(...)`, then the reply's append (3 calls); (b) the one-call
turn, `append(..., read_last=20, read_max_tokens=2000)`, then the reply's append (2 calls);
(c) the same two calls batched across TURN_BATCH conversations (`mem.batch()`: one round trip
for their turns and reads, one for their replies). The clients are 16 processes by default
(CLIENTS: "processes", "threads" on one Memory, or "tasks" of one AsyncMemory): one Python
process saturates its own core long before the server's, so only processes bring the
server close to its limit on a 2-core machine. The server's µs per turn is the usec of
`cmdstat_fcall` + `cmdstat_fcall_ro` (`CONFIG RESETSTAT` at the start) over the turns, and
its CPU the growth of `used_cpu_sys + used_cpu_user` over the wall time.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from pyredmem import AsyncMemory, Memory, Message, MsgpackCodec
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


# chat turns
CLIENTS = "processes"
CONCURRENCY = 16
TURN_SECONDS = 3.0
TURN_BATCH = 8  # conversations per batch in (c)
REPLY = (
    "Last week we agreed to keep the one-page summary on top, move the detailed tables to an "
    "appendix, and report each metric against both the previous quarter and the same quarter "
    "last year, with a short note wherever a figure moved by more than five percent."
)
HISTORY = {"max_turns": 200, "ttl": 30 * 86400}
SHAPES = {
    "a": "append, messages(), reply append",
    "b": "append(read_last=20, read_max_tokens=2000), reply append",
    "c": f"(b) in mem.batch(), {TURN_BATCH} conversations a round trip",
}


def _threads_of(client: int, shape: str) -> list[str]:
    return [f"c{client}-{i}" for i in range(TURN_BATCH if shape == "c" else 1)]


def _fill(mem: Memory, client: int, shape: str) -> list[Any]:
    """The client's conversations, 40 turns each already (so each read returns 20)."""
    chats = [
        mem.user(f"bench-turns-{shape}").history(t, **HISTORY) for t in _threads_of(client, shape)
    ]
    for chat in chats:
        chat.extend([m for _ in range(20) for m in (Message.user(TEXT), Message.assistant(REPLY))])
    return chats


def _turns(mem: Memory, chats: list[Any], shape: str, stop: Callable[[], bool]) -> int:
    """Turns until `stop()`; the count of turns done."""
    done = 0
    while not stop():
        if shape == "a":
            chat = chats[0]
            chat.append(Message.user(TEXT))
            context = chat.messages(last=20, max_tokens=2000)
            chat.append(Message.assistant(REPLY))
        elif shape == "b":
            chat = chats[0]
            context = chat.append(Message.user(TEXT), read_last=20, read_max_tokens=2000).context
            chat.append(Message.assistant(REPLY))
        else:
            with mem.batch() as b:
                reads = [
                    b.on(c).append(Message.user(TEXT), read_last=20, read_max_tokens=2000)
                    for c in chats
                ]
            context = reads[-1].result().context
            with mem.batch() as b:
                for c in chats:
                    b.on(c).append(Message.assistant(REPLY))
        assert len(context) == 20
        done += len(chats)
    return done


async def _turns_async(mem: AsyncMemory, client: int, shape: str, stop: Callable[[], bool]) -> int:
    chats = [
        mem.user(f"bench-turns-{shape}").history(t, **HISTORY) for t in _threads_of(client, shape)
    ]
    done = 0
    while not stop():
        if shape == "a":
            chat = chats[0]
            await chat.append(Message.user(TEXT))
            context = await chat.messages(last=20, max_tokens=2000)
            await chat.append(Message.assistant(REPLY))
        elif shape == "b":
            chat = chats[0]
            turn = await chat.append(Message.user(TEXT), read_last=20, read_max_tokens=2000)
            context = turn.context
            await chat.append(Message.assistant(REPLY))
        else:
            async with mem.batch() as b:
                reads = [
                    b.on(c).append(Message.user(TEXT), read_last=20, read_max_tokens=2000)
                    for c in chats
                ]
            context = reads[-1].result().context
            async with mem.batch() as b:
                for c in chats:
                    b.on(c).append(Message.assistant(REPLY))
        assert len(context) == 20
        done += len(chats)
    return done


def _process_client(url: str, client: int, shape: str, start: Any, stop: Any, out: Any) -> None:
    with Memory(url) as mem:
        chats = _fill(mem, client, shape)
        start.wait()
        out.put(_turns(mem, chats, shape, stop.is_set))


class _Server:
    """The server's counters around a run: fcall + fcall_ro usec, CPU seconds."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def reset(self) -> None:
        self.raw.config_resetstat()
        self.t0 = time.perf_counter()
        self.cpu0 = self._cpu()

    def _cpu(self) -> float:
        info = self.raw.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    def read(self) -> tuple[float, float, float]:
        """(wall seconds, server usec in functions, server CPU share)."""
        wall = time.perf_counter() - self.t0
        stats = self.raw.info("commandstats")
        usec = sum(stats.get(f"cmdstat_{c}", {}).get("usec", 0) for c in ("fcall", "fcall_ro"))
        return wall, float(usec), (self._cpu() - self.cpu0) / wall


Turns = tuple[float, float, float]  # turns/s, server µs per turn, server CPU share


def _run_shape(url: str, raw: Any, shape: str, clients: str) -> Turns:
    server = _Server(raw)
    if clients == "processes":
        ctx = multiprocessing.get_context("fork")
        start, stop, out = ctx.Barrier(CONCURRENCY + 1), ctx.Event(), ctx.Queue()
        procs = [
            ctx.Process(target=_process_client, args=(url, i, shape, start, stop, out))
            for i in range(CONCURRENCY)
        ]
        for p in procs:
            p.start()
        start.wait()  # every client has filled its conversations
        server.reset()
        time.sleep(TURN_SECONDS)
        stop.set()
        turns = sum(out.get(timeout=60) for _ in procs)
        for p in procs:
            p.join()
    elif clients == "threads":
        with Memory(url) as mem:
            all_chats = [_fill(mem, i, shape) for i in range(CONCURRENCY)]
            halt = threading.Event()
            counts = [0] * CONCURRENCY

            failures: list[BaseException] = []

            def client(i: int) -> None:
                try:
                    counts[i] = _turns(mem, all_chats[i], shape, halt.is_set)
                except BaseException as exc:  # raised again below, once
                    failures.append(exc)
                    halt.set()

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENCY)]
            server.reset()
            for t in threads:
                t.start()
            time.sleep(TURN_SECONDS)
            halt.set()
            for t in threads:
                t.join()
            if failures:
                raise failures[0]
            turns = sum(counts)
    else:

        async def main() -> int:
            with Memory(url) as mem:
                for i in range(CONCURRENCY):
                    _fill(mem, i, shape)
            async with AsyncMemory(url) as amem:
                server.reset()
                deadline = time.perf_counter() + TURN_SECONDS

                def stop() -> bool:
                    return time.perf_counter() >= deadline

                counts = await asyncio.gather(
                    *(_turns_async(amem, i, shape, stop) for i in range(CONCURRENCY))
                )
                return sum(counts)

        turns = asyncio.run(main())
    wall, usec, cpu = server.read()
    raw.delete(*raw.keys(f"*bench-turns-{shape}*"))
    return turns / wall, usec / max(turns, 1), cpu


def measure_turns(url: str, clients: str = CLIENTS) -> dict[str, Turns]:
    raw = redis.Redis.from_url(url)
    try:
        return {shape: _run_shape(url, raw, shape, clients) for shape in SHAPES}
    finally:
        raw.close()


def render_turns(m: dict[str, Turns], clients: str = CLIENTS) -> str:
    lines = [
        f"\nChat turns, {CONCURRENCY} {clients} for {TURN_SECONDS:g} s each (a turn: the user's "
        "append, the read of the last 20 turns within 2,000 tokens, the reply's append)",
        f"{'shape':62} {'turns/s':>8} {'server µs/turn':>15} {'server CPU':>11} "
        f"{'per CPU-s':>10} {'1e6/µs':>8}",
    ]
    for shape, (rate, usec, cpu) in m.items():
        label = f"({shape}) {SHAPES[shape]}"
        lines.append(
            f"{label:62} {rate:8,.0f} {usec:15.2f} {cpu:10.0%} "
            f"{rate / max(cpu, 1e-9):10,.0f} {1e6 / max(usec, 1e-9):8,.0f}"
        )
    lines.append(
        "server µs/turn: fcall + fcall_ro usec over the turns; server CPU: its CPU time over "
        "the wall time; per CPU-s: turns per second of server CPU (what one busy core would "
        "sustain, I/O included); 1e6/µs: the same on function time alone"
    )
    return "\n".join(lines)


def run(mem: Memory, raw: Any, n: int) -> str:
    kwargs = raw.connection_pool.connection_kwargs
    url = f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs['port']}"
    return render(measure(mem, raw)) + "\n" + render_turns(measure_turns(url))
