"""Rotation throughput: `mem.reencrypt()` over a namespace filled under an old key (scope
values of 200 bytes, and turns), in values rewritten per second; then the same run again,
where every value is already under the primary key (what resuming an interrupted run
costs per value: a read and a key-id check, no write).

A section after the latency table (`run`): bench/run.py --only reencrypt
"""

from __future__ import annotations

import time
from typing import Any

from pyredmem import Keyring, Memory, Message

OLD, NEW = bytes(range(32)), bytes(range(100, 132))  # fixed keys: the bench protects nothing
NAMESPACE = "bench-reencrypt"
SCOPES, VALUES = 200, 50  # 10,000 scope values
THREADS, TURNS = 20, 200  # 4,000 turns
TEXT = "Could you remind me what we decided about the quarterly report format last week?"


def _fill(mem: Memory) -> int:
    value = {"notes": (TEXT * 3)[:190], "n": 7}
    for s in range(SCOPES):
        mem.user(f"u{s}").set_many({f"k{i}": value for i in range(VALUES)})
    for t in range(THREADS):
        mem.user(f"u{t}").history("chat").extend(
            [Message.user(f"{TEXT} ({i})") for i in range(TURNS)]
        )
    return SCOPES * VALUES + THREADS * TURNS


def run(mem: Memory, raw: Any, n: int) -> str:
    """Values per second rewritten, and skipped as current (on `mem`'s server)."""
    for key in raw.scan_iter(match=f"{NAMESPACE}:*", count=1000):
        raw.delete(key)
    old = Keyring({"old": OLD}, primary="old")
    new = Keyring({"old": OLD, "new": NEW}, primary="new", names="old")
    with Memory(mem.client, namespace=NAMESPACE, encryption_key=old) as writer:
        total = _fill(writer)
    with Memory(mem.client, namespace=NAMESPACE, encryption_key=new) as rotating:
        start = time.perf_counter()
        done = rotating.reencrypt()
        rotate = time.perf_counter() - start
        start = time.perf_counter()
        again = rotating.reencrypt()
        skip = time.perf_counter() - start
    assert done.rewritten == again.current == total, (done, again)
    for key in raw.scan_iter(match=f"{NAMESPACE}:*", count=1000):
        raw.delete(key)
    return "\n".join(
        [
            f"\nRotation (mem.reencrypt(), {SCOPES * VALUES:,} scope values of 200 bytes and "
            f"{THREADS * TURNS:,} turns, {SCOPES + THREADS} keys)",
            f"{'run':38} {'seconds':>8} {'values/s':>10}",
            f"{'rewritten under the new key':38} {rotate:8.2f} {total / rotate:10,.0f}",
            f"{'again: all current, nothing written':38} {skip:8.2f} {total / skip:10,.0f}",
        ]
    )
