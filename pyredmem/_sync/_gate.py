# Generated from pyredmem/_async/_gate.py by scripts/unasync.py: do not edit.
"""How many calls of one memory may hold a connection of its client's pool at once (kept
alone: its sync twin takes pyredmem/_slots.py's semaphore where this takes asyncio's)."""

from __future__ import annotations

from .._slots import Slots  # for Semaphore

# of the pool's max_connections, what a memory leaves to the application's own commands
SPARE_SHARE = 10  # one in ten, and at least one

# a pool that allows more connections than this is taken as unbounded, and gets no gate
# (redis-py before 8.0 gives every pool 2**31 unless told otherwise)
MOST_GATED = 65_536


def gate_for(client: object) -> tuple[Slots, int] | None:
    """A semaphore bounding the memory's calls on `client`'s pool, and how many of them may
    be blocking waits (the rest stay free for calls, so that a value being computed can
    always be stored and its waiters woken). None for clients without a pool (a cluster's
    pools are per node, and it bounds them itself), and for pools of more than MOST_GATED
    connections."""
    pool = getattr(client, "connection_pool", None)
    most = getattr(pool, "max_connections", None)
    if not isinstance(most, int) or not 0 < most <= MOST_GATED:
        return None
    slots = max(1, most - max(1, most // SPARE_SHARE))
    return Slots(slots), max(1, slots // 2)
