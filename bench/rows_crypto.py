"""Encryption rows: each operation with encryption on (AES-256-GCM on the client) against the
same operation with it off, in the same run, on the same connection pool: get/set of a
1 KiB value, history append, and messages(last=20) of a 200-turn thread (read again, as a
chatbot does at every turn: the turns opened lately are remembered; and a first read, every
turn decrypted); and a rate limiter's hit with `encrypt_names=True` (its subjects, 1,000 of
them in turn, stored as their AES-SIV encryption) against one without. Target: at most
1.15x the unencrypted p50.

`run` (a section after the latency table) reads what the server spends per call on both
sides (INFO commandstats, as bench/server_cost.py does): sealed values are 30 bytes or so
longer, and nothing else changes on the server.

To add a row: a `Pair` in `pairs()` (both sides' operations, made from an encrypted and a
plain Memory); it then appears in the latency table and in the server section.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import Row
from bench.server_cost import ROUNDS, Measure
from pyredmem import Memory, Message, MsgpackCodec

KEY = bytes(range(32))  # a fixed key: the bench compares costs, it protects nothing
TEXT = "Could you remind me what we decided about the quarterly report format last week?"
# a 1 KiB value: its codec bytes are 1,024 long
VALUE = {"notes": (TEXT * 13)[:1011], "n": 7}
TURNS = 200
TARGET = 1.15


@dataclass(frozen=True)
class Pair:
    """One operation, encrypted and not."""

    name: str
    on: Callable[[], Any]
    off: Callable[[], Any]


def encrypted(mem: Memory) -> Memory:
    """A Memory with encryption on the same client (its pool, its server)."""
    return Memory(mem.client, encryption_key=KEY)


def pairs(mem: Memory, enc: Memory) -> list[Pair]:
    assert len(MsgpackCodec().encode(VALUE)) == 1024
    out: list[Pair] = []
    users = {}
    for side, m in (("on", enc), ("off", mem)):
        user = m.user(f"bench-crypto-{side}")
        user.set("doc", VALUE)
        users[side] = user
        assert user.get("doc") == VALUE
    out.append(
        Pair("scope.get 1 KiB", lambda: users["on"].get("doc"), lambda: users["off"].get("doc"))
    )
    out.append(
        Pair(
            "scope.set 1 KiB",
            lambda: users["on"].set("doc", VALUE),
            lambda: users["off"].set("doc", VALUE),
        )
    )
    # appends take Messages made beforehand (distinct ids, so each one pushes)
    appends = {}
    reads = {}
    for side, user in users.items():
        chat = user.history("bench-crypto-append", max_turns=2000, ttl=3600.0)
        chat.clear()
        fresh = itertools.cycle([Message.user(TEXT) for _ in range(20_000)])
        appends[side] = lambda chat=chat, fresh=fresh: chat.append(next(fresh))
        thread = user.history(f"bench-crypto-{TURNS}", ttl=3600.0)
        thread.clear()
        thread.extend([Message.user(f"{TEXT} ({i})") for i in range(TURNS)])
        reads[side] = lambda thread=thread: thread.messages(last=20)
    out.append(Pair("history.append", appends["on"], appends["off"]))
    out.append(Pair(f"messages(last=20), {TURNS} turns", reads["on"], reads["off"]))
    # the same read with nothing remembered: every turn decrypted, as on a first read
    opened = enc._cfg.crypto.opened.rows if enc._cfg.crypto is not None else {}

    def cold() -> Any:
        opened.clear()
        return reads["on"]()

    out.append(Pair(f"messages(last=20), {TURNS} turns, first read", cold, reads["off"]))
    # subjects in turn, as a fleet's users come and go (names remembered: see Crypto.name)
    named = Memory(mem.client, encryption_key=KEY, encrypt_names=True)
    hits = {}
    for side, m in (("on", named), ("off", mem)):
        limiter = m.limiter(f"bench-crypto-{side}", limit=10**9, period=60)
        subjects = itertools.cycle([f"user-{i}@example.com" for i in range(1000)])
        hits[side] = lambda limiter=limiter, subjects=subjects: limiter.hit(next(subjects))
    out.append(Pair("limiter.hit (gcra), encrypt_names", hits["on"], hits["off"]))
    return out


def rows(mem: Memory, raw: Any) -> list[Row]:
    return [
        Row(f"encrypted {p.name}", p.on, "unencrypted", p.off, TARGET)
        for p in pairs(mem, encrypted(mem))
    ]


def run(mem: Memory, raw: Any, n: int, rounds: int = ROUNDS) -> str:
    """The server's µs per call, encrypted and not (best of interleaved rounds)."""
    measured = [
        (p, Measure(p.name, p.on), Measure(p.name, p.off)) for p in pairs(mem, encrypted(mem))
    ]
    for _, on, off in measured:  # warm up
        for _ in range(min(n, 200)):
            on.fn()
            off.fn()
    per_round = max(n // 2, 200)
    for _ in range(rounds):
        for _, on, off in measured:
            on.round(raw, per_round)
            off.round(raw, per_round)
    lines = [
        "\nEncryption, server side (INFO commandstats, µs per call, best of rounds)",
        f"{'operation':46} {'encrypted':>10} {'plain':>8} {'ratio':>6}",
    ]
    for p, on, off in measured:
        lines.append(f"{p.name:46} {on.best:10.2f} {off.best:8.2f} {on.best / off.best:6.2f}")
    return "\n".join(lines)
