"""The asyncio shell of `reencrypt`: SCAN, then run the jobs of pyredmem/_ops/reencrypt.py
a few at a time, their steps sent together (one pipeline of reads, one of script calls)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._errors import PyRedMemError
from .._ops.reencrypt import (
    SCAN_COUNT,
    Calls,
    Job,
    Reads,
    Reencrypted,
    ReencryptPlan,
    progress_line,
)
from .._watching import scan_reply
from ._runner import AsyncRunner

#: jobs (keys) in progress at once: each round sends their next steps together
JOBS_TOGETHER = 32

#: progress=: True (a bar on stderr), False, or a function of (counts so far, keys in all)
Progress = bool | Callable[[Reencrypted, int], Any]


async def reencrypt(runner: AsyncRunner, plan: ReencryptPlan, progress: Progress) -> Reencrypted:
    """Rotate every key `plan` finds on every primary; returns the counts."""
    found: set[str] = set()
    for node in (await runner.primaries()).values():
        cursor = 0
        while True:
            reply = await runner.on_node(
                node, "SCAN", cursor, "MATCH", plan.pattern, "COUNT", SCAN_COUNT
            )
            cursor, keys = scan_reply(reply)
            found.update(keys)
            if cursor == 0:
                break
    jobs = [job for job in map(plan.job, sorted(found)) if job is not None]
    report = _reporter(progress, len(jobs))
    total = Reencrypted()
    queue = iter(jobs)
    running: list[tuple[Job, Reads | Calls]] = []
    while True:
        while len(running) < JOBS_TOGETHER:
            job = next(queue, None)
            if job is None:
                break
            total = _advance(job, None, running, total)
        if not running:
            break
        reads = [c for _, step in running if isinstance(step, Reads) for c in step.commands]
        calls = [c for _, step in running if isinstance(step, Calls) for c in step.calls]
        read_replies = await runner.pipelined(reads) if reads else []
        for reply in read_replies:
            if isinstance(reply, PyRedMemError):
                raise reply
        call_replies = await runner.run_all(calls) if calls else []
        stepped, running = running, []
        r = c = 0
        for job, step in stepped:
            if isinstance(step, Reads):
                replies, r = read_replies[r : r + len(step.commands)], r + len(step.commands)
            else:
                replies, c = call_replies[c : c + len(step.calls)], c + len(step.calls)
            before = total.keys
            total = _advance(job, replies, running, total)
            if total.keys != before:
                report(total)
    report(total, True)
    return total


def _advance(
    job: Job,
    replies: list[Any] | None,
    running: list[tuple[Job, Reads | Calls]],
    total: Reencrypted,
) -> Reencrypted:
    """Send `job` its replies: it goes back in `running` with its next step, or is done."""
    try:
        step = next(job) if replies is None else job.send(replies)
    except StopIteration as stop:
        done: Reencrypted = stop.value
        return total + done
    running.append((job, step))
    return total


def _reporter(progress: Progress, count: int) -> Callable[..., None]:
    """What reports progress: a bar redrawn on stderr, the caller's function, or nothing."""
    if callable(progress):

        def call(counts: Reencrypted, final: bool = False) -> None:
            if not final:
                progress(counts, count)

        return call
    if not progress:
        return lambda counts, final=False: None

    def draw(counts: Reencrypted, final: bool = False) -> None:
        end = "\n" if final else ""
        print(f"\r{progress_line(counts, count)}", end=end, file=sys.stderr, flush=True)

    return draw
