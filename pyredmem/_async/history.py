"""A handle on one conversation thread (`mem.history("t-1")`, `scope.history("t-1")`)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._errors import ConflictError, InvalidValueError, ReadOnlyError, shown
from .._keys import ScopeRef
from .._ops import history as ops
from .._ops.history import Appended, Message
from .._ops.thread import reseal
from ._runner import AsyncRunner
from .recall import AsyncRecall

MAX_RETRIES = 100  # compactions tried by one compact() call


class AsyncHistory:
    """The turns of one conversation thread, kept under a scope instance.

    Each method is one atomic script call, except `compact`, which reads, summarises on the
    client, then replaces the turns it read only if they are still the oldest. Appends skip
    message ids already in the thread, drop the oldest turns beyond `max_turns`,
    `max_tokens` and 16 MiB, and refresh the thread's expiry (`ttl` seconds; reads refresh
    it too unless `sliding=False`). A refresh re-arms the expiry only once it has run down by
    more than 1% of the ttl, so a thread expires between 99% and 100% of its ttl after its
    last use. Reads never write (they work during a write pause and on replicas): a read
    that finds the expiry due for a refresh is followed by a small second call that re-arms
    it.
    """

    __slots__ = ("_recall", "_runner", "_t")

    def __init__(
        self, runner: AsyncRunner, thread: ops.Thread, recall: AsyncRecall | None = None
    ) -> None:
        self._runner = runner
        self._t = thread
        self._recall = recall  # indexes the turns appended (history(..., recall=True))

    @property
    def _check(self) -> Callable[[Sequence[Message]], None] | None:
        """With a recall index: what refuses, before the append, turns it would refuse
        after (so that a refused turn is not stored, unindexed)."""
        recall = self._recall
        if recall is None:
            return None
        return functools.partial(recall.check_turns, self._t.id)

    @property
    def thread_id(self) -> str:
        return self._t.id

    @property
    def scope(self) -> ScopeRef:
        return self._t.ref

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._t.label} thread={self._t.id!r}>"

    async def append(
        self,
        message: Message | Mapping[str, Any],
        *,
        return_evicted: bool = False,
        read_last: int | None = None,
        read_max_tokens: int | None = None,
    ) -> Appended:
        """Append one message, a Message or a dict in the OpenAI chat format (see
        `Message.from_dict`); nothing happens if its id is already in the thread.
        With `return_evicted`, the turns dropped to respect the caps come back too. With
        `read_last` and/or `read_max_tokens`, the same call then reads the newest turns into
        `context`: what `messages(last=read_last, max_tokens=read_max_tokens)` would return
        right after the append."""
        done = await self._runner.run(
            ops.history_append(
                self._t, [message], return_evicted, read_last, read_max_tokens, self._check
            )
        )
        if self._recall is not None:
            await self._recall.index_turns(self._t.id, done.messages)
        return done

    async def extend(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        return_evicted: bool = False,
        read_last: int | None = None,
        read_max_tokens: int | None = None,
    ) -> Appended:
        """Append several messages (Messages or OpenAI-format dicts) in order, atomically,
        skipping ids already in the thread.
        `return_evicted`, `read_last` and `read_max_tokens` work as in `append`."""
        if not messages and isinstance(messages, Sequence):
            if read_last is None and read_max_tokens is None:
                return Appended((), (), 0, ())
            # nothing to append: a plain read (it names the read_* argument it refuses)
            last, budget = ops.read_bounds(self._t, read_last, read_max_tokens)
            context = await self.messages(last=last or None, max_tokens=budget or None)
            return Appended((), (), 0, (), tuple(context))
        done = await self._runner.run(
            ops.history_append(
                self._t, messages, return_evicted, read_last, read_max_tokens, self._check
            )
        )
        if self._recall is not None:
            await self._recall.index_turns(self._t.id, done.messages)
        return done

    async def messages(
        self, *, last: int | None = None, max_tokens: int | None = None
    ) -> list[Message]:
        """The longest run of most recent turns with at most `last` turns and `max_tokens`
        tokens, oldest first (all turns when both are None)."""
        found, due = await self._runner.run(ops.history_messages(self._t, last, max_tokens))
        if due:
            try:
                await self._runner.run(ops.history_touch(self._t))
            except ReadOnlyError:
                pass  # a replica: the primary's next read or write re-arms it
        return found

    async def count(self) -> int:
        """The number of turns in the thread."""
        return await self._runner.run(ops.history_len(self._t))

    def __len__(self) -> int:
        # The sync twin is generated from this text: there `run` returns the count. Here it
        # returns a coroutine, which len() cannot wait for.
        return _sync_only(self._runner.run(ops.history_len(self._t)))

    async def clear(self) -> int:
        """Remove every turn; the thread stays listed in its scope. Returns the turns removed."""
        return await self._runner.run(ops.history_clear(self._t))

    async def pop(self) -> Message | None:
        """Remove the newest turn and return it, or None when the thread holds no turns:
        one atomic call, so two callers never pop the same turn. The thread's expiry is
        left as it is. With `recall`, the turn then leaves the recall index (a second
        call)."""
        popped = await self._runner.run(ops.history_pop(self._t))
        if popped is not None and self._recall is not None:
            # the item id index_turns gave the turn (recall's turn_items)
            await self._recall.delete(f"{self._t.id}:{popped.id}")
        return popped

    async def delete(self) -> bool:
        """Remove the thread and its place in the scope's list; True if it existed."""
        return await self._runner.run(ops.history_delete(self._t))

    async def ttl(self) -> float | None:
        """Seconds until the thread expires, or None if it never does.
        Raises MissingKeyError when it holds no turns."""
        return await self._runner.run(ops.history_ttl(self._t))

    async def fork(self, new_thread_id: str, *, upto: int | None = None) -> AsyncHistory:
        """Copy this thread (all turns, or the oldest `upto`) into a new thread of the same
        scope, atomically, and return its handle (same caps and ttl). Raises ConflictError if
        the new thread already holds turns. With encryption, each turn is sealed again for
        the new thread on the client: one read, then one atomic write of what it read."""
        t = self._t
        new = t.child(new_thread_id)
        if t.aad is None:
            await self._runner.run(ops.history_fork(t, new, upto))
        else:
            found = await self._runner.run(ops.history_entries(t, upto))
            if found:
                entries = reseal(t, new, found)
                await self._runner.run(ops.history_fork(t, new, upto, entries))
        return AsyncHistory(self._runner, new)

    async def compact(
        self, summarize: ops.AsyncSummarizer, *, keep_last: int, retries: int = 3
    ) -> Message | None:
        """Replace all but the newest `keep_last` turns with one summary turn.

        `summarize(turns)` gets the turns to replace, oldest first, and returns the summary
        as a string (stored as a system message) or a Message. The replacement happens only
        if those turns are still the oldest, so turns appended meanwhile are never lost; if
        the thread changed underneath, it reads and summarises again, up to `retries` times,
        then raises ConflictError. Returns the summary stored, or None when there was nothing
        to summarise."""
        if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
            raise self._t.error(
                InvalidValueError,
                f"retries must be an integer from 0 to {MAX_RETRIES}, got {shown(retries)}",
            )
        for _ in range(retries + 1):
            older = await self._runner.run(ops.history_head(self._t, keep_last))
            if not older:
                return None
            result: Any = summarize(list(older))
            if inspect.isawaitable(result):  # a no-op in the sync twin, which then refuses it
                result = await result
            summary = ops.summary_message(self._t, result)
            stored = await self._runner.run(ops.history_compact(self._t, older, summary))
            if stored is not None:
                return stored
        raise ConflictError(
            f"the thread kept changing during {retries + 1} compactions",
            key=self._t.id,
            scope=self._t.label,
        )


def _sync_only(count: Any) -> int:
    if inspect.iscoroutine(count):
        count.close()
        raise TypeError("use `await history.count()`: len() cannot wait")
    return int(count)
