# Generated from pyredmem/_async/scope.py by scripts/unasync.py: do not edit.
"""A handle on one scope instance (`mem.user("alice")`)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._config import Config
from .._errors import ConflictError
from .._keys import ScopeRef
from .._ops import events as events_ops
from .._ops import history as history_ops
from .._ops import scope as ops
from .._ops._call import Target
from .._ops.erase import SCAN_COUNT, Erased, ErasePlan
from .._ops.events import Event
from .._ops.facts import FactStore
from .._ops.history import ThreadInfo, TokenCounter
from .._ops.recall import RecallStore
from .._watching import scan_reply
from ._runner import Runner
from ._sleep import sleep
from .facts import Facts
from .history import History
from .recall import Recall


class Scope:
    """Values stored under one scope instance, e.g. user "alice" or session "s-42".

    Every method is one atomic script call, except `update`, which reads once and then
    compare-and-sets until it wins.
    """

    __slots__ = ("_runner", "_t", "ref")

    def __init__(self, runner: Runner, cfg: Config, ref: ScopeRef) -> None:
        self._runner = runner
        self._t = Target(cfg, ref)
        self.ref = ref

    @property
    def kind(self) -> str:
        return self.ref.kind

    @property
    def id(self) -> str:
        return self.ref.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.ref}>"

    def set(self, key: str, value: Any, *, ttl: float | None = None) -> None:
        """Store `value` under `key`. `ttl` in seconds; None means the memory's default_ttl
        (by default: never expires). Replaces any previous value and expiry."""
        self._runner.run(ops.scope_set(self._t, key, value, ttl))

    def get(self, key: str, default: Any = None) -> Any:
        """The value under `key`, or `default` when it is absent or expired."""
        return self._runner.run(ops.scope_get(self._t, key, default))

    def exists(self, key: str) -> bool:
        """Whether `key` holds a live value."""
        return self._runner.run(ops.scope_exists(self._t, key))

    def delete(self, key: str) -> bool:
        """Remove `key`; True when it held a live value."""
        return self._runner.run(ops.scope_delete(self._t, key))

    def clear(self) -> int:
        """Remove every key of this scope; returns how many live keys there were."""
        return self._runner.run(ops.scope_clear(self._t))

    def erase(self) -> Erased:
        """Remove everything stored for this scope instance: its values, conversation
        threads, facts, change log, any other key under its hash tag, and the caches scoped
        to it (`mem.cache(name, scope=...)`). Returns what was removed, by kind.

        The keys are found by SCAN (on every primary of a cluster), which never blocks the
        server but walks the whole keyspace: its cost grows with the database, not with the
        scope. They are then removed in one call per cluster slot (512 keys at most per
        call). Not atomic: keys that concurrent writes create after the SCAN passed them
        survive, so stop writing to a scope before erasing it. Safe to run again (after an
        error, say). Logs no change event: the scope's change log goes too."""
        return erase_scopes(self._runner, ErasePlan(self._t.cfg.keyspace, (self.ref,)))

    def keys(self) -> list[str]:
        """The live keys of this scope, sorted."""
        return self._runner.run(ops.scope_keys(self._t))

    def ttl(self, key: str) -> float | None:
        """Seconds until `key` expires, or None if it never does.
        Raises MissingKeyError when the key is absent or expired."""
        return self._runner.run(ops.scope_ttl(self._t, key))

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The live values among `keys`, as a dict (absent keys are left out)."""
        return self._runner.run(ops.scope_get_many(self._t, keys))

    def set_many(self, mapping: Mapping[str, Any], *, ttl: float | None = None) -> int:
        """Store several values at once, all or nothing; returns how many were written."""
        return self._runner.run(ops.scope_set_many(self._t, mapping, ttl))

    def incr(
        self, key: str, amount: int | float = 1, *, ttl: float | None = None
    ) -> int | float:
        """Add `amount` to the number under `key` (absent counts as 0) and return the result.
        Integers stay exact 64-bit integers; a float amount makes the value a float.
        `ttl` applies when this call creates the key; an existing key keeps its expiry."""
        return self._runner.run(ops.scope_incr(self._t, key, amount, ttl))

    def update(
        self, key: str, fn: Callable[[Any], Any], *, default: Any = None, ttl: float | None = None
    ) -> Any:
        """Replace the value under `key` with `fn(value)` (`fn(default)` when absent) without
        ever losing a concurrent update: the write is a compare-and-set on the version read,
        retried with the fresh value when another writer got there first. `fn` may run more
        than once, so keep it free of side effects. Without `ttl`, an existing key keeps its
        expiry. Returns the value stored; raises ConflictError after `update_retries` losses."""
        t = self._t
        ops.check_update(t, key, fn, ttl)
        entry = self._runner.run(ops.scope_get_entry(t, key))
        return update_from(self._runner, t, key, fn, entry, default, ttl)

    def changes(
        self, since: object = None, *, limit: int = 100, values: bool = False
    ) -> list[Event]:
        """The changes logged for this scope (its values and threads), oldest first: at most
        `limit` (up to 1,000) after `since`, an event id (the last one you handled), a
        datetime or seconds since the epoch (None: from the oldest the log keeps). With
        `values`, each event's `value` is the value its writer logged (with
        `events="values"`; else NOT_LOGGED). Events are logged by Memories opened with
        `events=True` or `"values"`, whatever this one's setting."""
        t = self._t
        call = events_ops.events_read(
            t.cfg, t.log, since, limit=limit, values=values, scope=t.label
        )
        return self._runner.run(call)

    @property
    def facts(self) -> Facts:
        """This scope's facts (subject, predicate, object claims over time), with the
        default caps; `mem.facts(scope=..., ...)` chooses others."""
        return Facts(self._runner, (FactStore(self._t.cfg, self.ref),))

    @property
    def recall(self) -> Recall:
        """This scope's recall index (texts found again by meaning), with the memory's
        embedder and the default options; `mem.recall(scope=..., ...)` chooses others."""
        return Recall(self._runner, RecallStore(self._t.cfg, self.ref))

    def history(
        self,
        thread_id: str,
        *,
        max_turns: int | None = None,
        max_tokens: int | None = None,
        ttl: float | None = None,
        sliding: bool = True,
        counter: TokenCounter | None = None,
        recall: bool = False,
    ) -> History:
        """A conversation thread of this scope. Appends keep at most `max_turns` turns
        (default 10,000) and `max_tokens` tokens (default: no cap), dropping the oldest;
        `ttl` seconds (None: the memory's default_ttl) runs from the last write, and from the
        last read too unless `sliding=False` (give or take 1%: the expiry is re-armed once it
        has run down by more than 1% of the ttl). `counter` counts a message's tokens
        (default: `estimate_tokens`). With `recall`, the turns appended are also added to
        this scope's `recall` index (by a second call after the append's), so that search
        finds them long after they left the thread: id "<thread>:<message id>", kind the
        role, meta {"thread", "message"}."""
        thread = history_ops.Thread(
            self._t.cfg,
            self.ref,
            thread_id,
            max_turns=max_turns,
            max_tokens=max_tokens,
            ttl=ttl,
            sliding=sliding,
            counter=counter,
        )
        return History(self._runner, thread, self.recall if recall else None)

    def threads(self, *, limit: int = 100, offset: int = 0) -> list[ThreadInfo]:
        """This scope's live threads, most recently written first: `limit` of them (at most
        1,000) after skipping `offset`."""
        return self._runner.run(history_ops.history_threads(self._t, offset, limit))

    def thread_count(self) -> int:
        """The number of this scope's live threads."""
        return self._runner.run(history_ops.history_thread_count(self._t))


def erase_scopes(runner: Runner, plan: ErasePlan) -> Erased:
    """Erase `plan`'s scopes: SCAN every primary for each of its patterns, then send the
    calls that remove the keys that belong to them, a few at a time."""
    found: set[str] = set()
    for node in (runner.primaries()).values():
        for pattern in plan.patterns:
            cursor = 0
            while True:
                reply = runner.on_node(
                    node, "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT
                )
                cursor, keys = scan_reply(reply)
                found.update(keys)
                if cursor == 0:
                    break
    calls = plan.calls(found, per_slot=runner.cluster)
    total = Erased()
    for start in range(0, len(calls), _CALLS_TOGETHER):
        for erased in runner.run_all(calls[start : start + _CALLS_TOGETHER]):
            total += erased
    return total


# erase calls sent together (one pipeline per node): few round trips, bounded requests
_CALLS_TOGETHER = 16


def update_from(
    runner: Runner,
    t: Target,
    key: str,
    fn: Callable[[Any], Any],
    entry: ops.Entry | None,
    default: Any,
    ttl: float | None,
) -> Any:
    """`update`'s compare-and-set loop, from the entry read (None: absent); shared with
    `Context.update`, which reads it from the scope that holds the key."""
    for attempt in range(t.cfg.update_retries):
        new = fn(copy.deepcopy(default) if entry is None else entry.value)
        version = None if entry is None else entry.version
        result = runner.run(ops.scope_cas(t, key, version, new, ttl))
        if result.stored:
            return new
        # the conflict reply carries the current entry: retry with it at once; after
        # repeated losses back off, then re-read, since the entry ages while we sleep
        entry = result.current
        delay = ops.update_backoff(attempt)
        if delay:
            sleep(delay)
            entry = runner.run(ops.scope_get_entry(t, key))
    raise ConflictError(
        f"gave up after {t.cfg.update_retries} conflicting writes", key=key, scope=t.label
    )
