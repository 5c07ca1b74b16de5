"""A counting semaphore for the sync runner's gate (see pyredmem/_async/_gate.py).

`threading.Semaphore` is written in Python: a condition variable around a counter, about
1 µs to take and give back, paid by every call of a sync memory. Here the slots are tokens
in a `queue.SimpleQueue`, whose `get` and `put` are single calls into C (about 0.2 µs for
both): a call takes a token, blocking while none is left, and puts it back when done.
Each slot is a token held, so a gate has at most MAX_SLOTS of them.
"""

from __future__ import annotations

import queue

from ._async._gate import MOST_GATED

__all__ = ["MAX_SLOTS", "Slots"]

#: the most slots a gate holds: the gate leaves larger pools ungated
MAX_SLOTS = MOST_GATED


class Slots:
    """`value` slots; `with slots:` holds one for the block, waiting for one to be free."""

    __slots__ = ("_get", "_put")

    def __init__(self, value: int) -> None:
        if not 1 <= value <= MAX_SLOTS:  # each slot is a token held in the queue
            raise ValueError(f"a gate holds 1 to {MAX_SLOTS} slots, not {value}")
        tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(value):
            tokens.put(None)
        self._get = tokens.get
        self._put = tokens.put

    def __enter__(self) -> None:
        self._get()

    def __exit__(self, *exc: object) -> None:
        self._put(None)
