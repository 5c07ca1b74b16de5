"""What a watcher keeps track of, and how it reads the server's signals (no I/O).

A watcher (pyredmem/_async/watch.py) learns that a change log grew from a keyspace
notification ("xadd" on the log's key), then reads the log from the last position it
delivered. This module holds the bookkeeping that needs no server: the positions per log,
where to start reading a log (a resume cursor, a margin), the `notify-keyspace-events`
flags to ask for, the `expire` events made up from the expiry of a whole scope, thread or
cache bucket, and, on the embedded store (which announces no expiry), which keys to poll.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ._errors import DecryptionError
from ._keys import KINDS, Keyspace
from ._ops.events import (
    Event,
    LogName,
    Matcher,
    after_id,
    log_key_digest,
    parse_log_key,
    start_of,
)
from ._ops.thread import thread_of, thread_suffixes

__all__ = [
    "MARGIN_MS",
    "NOTIFY_FLAGS",
    "READ_COUNT",
    "ExpiryPoll",
    "Positions",
    "Resume",
    "expired_event",
    "log_key_digest",
    "notify_value",
    "scan_reply",
    "text",
]

#: the flags a watcher needs: keyspace (K) and keyevent (E) channels, stream commands (t)
#: and expired keys (x)
NOTIFY_FLAGS = "KEtx"
# classes the alias "A" stands for (every class but keyspace-miss "m" and new-key "n")
_ALIAS_A = set("g$lshzxetd")

#: how far before a resume cursor the other logs are read again (ms): their events are not
#: ordered with the cursor's, so the few that were not yet delivered when the cursor was
#: taken may be a little older than it
MARGIN_MS = 5000
#: entries read from one log per command
READ_COUNT = 1000
#: logs whose position a watcher remembers (the least recently read are forgotten)
MAX_LOGS = 100_000
#: keys the embedded store's watcher polls for expiry
MAX_POLLED = 1_000


def text(raw: Any) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)


def notify_value(current: str) -> str | None:
    """The `notify-keyspace-events` value that adds the flags a watcher needs to `current`
    (never removing one), or None when `current` has them all."""
    have = set(current)
    if "A" in have:
        have |= _ALIAS_A
    missing = "".join(flag for flag in NOTIFY_FLAGS if flag not in have)
    return current + missing if missing else None


def scan_reply(reply: Any) -> tuple[int, list[str]]:
    """(cursor, keys) of a SCAN reply: (cursor, keys) from a server, ({node: cursor}, keys)
    from a cluster client's command sent to one node."""
    cursor, keys = reply
    if isinstance(cursor, dict):
        cursor = next(iter(cursor.values()), 0)
    return int(cursor), [text(k) for k in keys]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a watcher given `after=` starts reading each log: the cursor's own log (the
    digest of an event id names it) right after the cursor, the others from `floor`."""

    floor: tuple[int, int]
    digest: str | None = None
    exact: tuple[int, int] | None = None

    @classmethod
    def of(cls, after: object) -> Resume:
        """`after`: an event id (the others logs then start MARGIN_MS before it), a
        datetime or seconds since the epoch (every log starts at that time)."""
        if isinstance(after, Event):
            after = after.id
        if isinstance(after, str):
            ms, seq = start_of(after)
            _, dot, digest = after.partition(".")
            if not dot or digest.startswith("x"):  # no log of its own: a bare stream id,
                return cls((max(0, ms - MARGIN_MS), -1))  # or a made-up expire event
            return cls((max(0, ms - MARGIN_MS), -1), digest, (ms, seq))
        return cls(start_of(after))

    def start(self, key: str) -> tuple[int, int]:
        if (
            self.digest is not None
            and self.exact is not None
            and log_key_digest(key) == self.digest
        ):
            return self.exact
        return self.floor


class Positions:
    """The position (ms, seq) of the last entry read from each log, for the MAX_LOGS logs
    read most recently."""

    def __init__(self, most: int = MAX_LOGS) -> None:
        self._most = most
        self._at: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._at)

    def get(self, key: str) -> tuple[int, int] | None:
        return self._at.get(key)

    def set(self, key: str, position: tuple[int, int]) -> None:
        self._at[key] = position
        self._at.move_to_end(key)
        while len(self._at) > self._most:
            self._at.popitem(last=False)

    def start(self, key: str, floor: tuple[int, int]) -> str:
        """The XRANGE start that reads `key` after what was read of it (else from
        `floor`)."""
        return after_id(self.get(key) or floor)


def _split(key: str) -> tuple[str, str] | None:
    """(hash-tag prefix, rest) of a key: "pm:{t:user:a}" and ":h"."""
    close = key.find("}")
    if close < 0:
        return None
    return key[: close + 1], key[close + 1 :]


def expired_event(keyspace: Keyspace, matcher: Matcher, key: str, now_ms: int) -> Event | None:
    """The `expire` event a watcher delivers when `key` expired as a whole: a scope's hash
    (target "scope"), a thread's list (target "thread", key the thread id) or a cache
    bucket's hash (target "scope"), if the matcher wants it. Such events are seen live
    only: no log holds them, so a watcher resuming from a cursor does not see them again.
    Their id is "<local ms>-0.x<digest of the key>"."""
    parts = _split(key)
    if parts is None:
        return None
    prefix, rest = parts
    if rest == ":h":
        target, thread = "scope", None
    elif rest.startswith(":") and (thread := thread_of(rest[1:])) is not None:
        target = "thread"
    else:
        return None
    log = parse_log_key(keyspace, prefix + ":ev")
    if log is None or not matcher.wants_log(log):
        return None
    if thread is not None and log.kind == "cache":
        return None
    if thread is not None and keyspace.names is not None:
        try:
            thread = keyspace.plain(thread, "thread")
        except DecryptionError:
            return None
    event = Event(
        id=f"{now_ms}-0.x{log_key_digest(key)}",
        kind=log.kind,
        scope=log.name,
        target=target,
        op="expire",
        key=thread,
        at=now_ms / 1000,
    )
    return event if matcher.wants(event) else None


def polled_keys(keyspace: Keyspace, log: LogName, events: Iterable[Event]) -> list[str]:
    """The keys whose expiry the embedded store's watcher polls for, after reading `events`
    from `log`: the scope's (or cache bucket's) hash and each thread's list."""
    head = log.key[: -len("ev")]  # "<prefix>:"
    keys = [head + "h"]
    if log.kind in KINDS:
        keys += {
            head + thread_suffixes(keyspace.stored(e.key, "thread"))[0]
            for e in events
            if e.target == "thread" and e.key
        }
    return keys


class ExpiryPoll:
    """The keys the embedded store's watcher polls (PTTL) to see them expire, since that
    store announces no expiry: a key that vanishes once its time to live ran out has
    expired; one that vanishes earlier was deleted (its log says so)."""

    # a key found gone this close before its expiry time is taken to have expired (s)
    SLACK = 0.5

    def __init__(self, most: int = MAX_POLLED) -> None:
        self._most = most
        # key -> when it expires (monotonic seconds), None: it has no expiry
        self._keys: OrderedDict[str, float | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, keys: Iterable[str]) -> bool:
        """Poll `keys` too; whether any is new."""
        new = False
        for key in keys:
            if key not in self._keys:
                self._keys[key] = None
                new = True
            self._keys.move_to_end(key)
        while len(self._keys) > self._most:
            self._keys.popitem(last=False)
        return new

    def keys(self) -> list[str]:
        return list(self._keys)

    def update(self, keys: Sequence[str], pttls: Sequence[Any], now: float) -> list[str]:
        """Record the PTTL replies for `keys` (polled at `now`); the keys that expired."""
        expired = []
        for key, reply in zip(keys, pttls, strict=True):
            if key not in self._keys or not isinstance(reply, int):
                continue
            if reply == -2:  # gone
                deadline = self._keys.pop(key)
                if deadline is not None and now >= deadline - self.SLACK:
                    expired.append(key)
            else:
                self._keys[key] = None if reply < 0 else now + reply / 1000
        return expired
