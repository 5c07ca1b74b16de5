"""Conversation history: one function per `lua/history_*.lua` script (see thread.py for
how turns are stored, message.py for `Message`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._config import MAX_CALL_BYTES, positive_int
from .._errors import InvalidValueError, MissingKeyError, shown
from ._call import Arg, Call, Target, is_one, script
from .message import (
    ROLES,
    Appended,
    AsyncSummarizer,
    Message,
    Summarizer,
    TokenCounter,
    estimate_tokens,
)
from .thread import (
    DEFAULT_MAX_TURNS,
    MAX_THREAD_BYTES,
    MAX_TOKENS,
    MAX_TURNS_LIMIT,
    STAMP_BYTES,
    Thread,
    ThreadInfo,
    as_stored,
    decode_entries,
    entry_tail,
    turn_tokens,
)

__all__ = [
    "DEFAULT_MAX_TURNS",
    "MAX_OFFSET",
    "MAX_PAGE",
    "MAX_THREAD_BYTES",
    "MAX_TURNS_LIMIT",
    "ROLES",
    "Appended",
    "AsyncSummarizer",
    "Message",
    "Summarizer",
    "Target",
    "Thread",
    "ThreadInfo",
    "TokenCounter",
    "estimate_tokens",
    "history_append",
    "history_clear",
    "history_compact",
    "history_delete",
    "history_entries",
    "history_fork",
    "history_head",
    "history_len",
    "history_messages",
    "history_pop",
    "history_thread_count",
    "history_threads",
    "history_touch",
    "history_ttl",
    "read_bounds",
    "summary_message",
]

MAX_PAGE = 1000  # threads per threads() page
MAX_OFFSET = 2**31 - 1  # where a threads() page starts
NOEXP_MS = 2**52  # the scripts' "never expires"

_new = object.__new__

#: a read of at most this many turns with a token budget is cut to the budget by the client:
#: the server's walk (thread_tail) would read them all in its first chunk anyway, so the
#: server's work is that of a read without a budget, and without a sliding expiry it is a
#: plain LRANGE
CLIENT_BUDGET_TURNS = 32


def read_bounds(t: Thread, read_last: int | None, read_max_tokens: int | None) -> tuple[int, int]:
    """An append's read, checked: (last, max tokens), each 0 for no limit."""
    return (
        0
        if read_last is None
        else positive_int("read_last", read_last, most=MAX_TURNS_LIMIT, scope=t.label),
        0
        if read_max_tokens is None
        else positive_int("read_max_tokens", read_max_tokens, most=MAX_TOKENS, scope=t.label),
    )


def history_append(
    t: Thread,
    messages: Sequence[Message | Mapping[str, Any]],
    return_evicted: bool,
    read_last: int | None = None,
    read_max_tokens: int | None = None,
    check: Callable[[Sequence[Message]], None] | None = None,
) -> Call[Appended]:
    """Append `messages` (skipping ids already in the thread) and enforce the caps; with
    `read_last` or `read_max_tokens`, then read the newest turns as `history_messages` does
    (the reply's `context`). `check` gets the messages as they will be sent, once they
    are checked, to refuse them for reasons of its own (a recall index's)."""
    read = 0  # none; 1: the newest turns, one entry each
    last = budget = cut = 0  # cut: the read's budget the client applies (see history_messages)
    if read_last is not None or read_max_tokens is not None:
        last, budget = read_bounds(t, read_last, read_max_tokens)
        read = 1
        if budget and 0 < last <= CLIENT_BUDGET_TURNS:
            cut, budget = budget, 0
    if type(messages) is not list and (
        isinstance(messages, (Message, Mapping)) or not isinstance(messages, Sequence)
    ):
        raise t.error(InvalidValueError, "extend takes a sequence of Messages (or dicts)")
    if len(messages) > t.cfg.max_batch:
        raise t.error(
            InvalidValueError, f"at most {t.cfg.max_batch} messages per call, got {len(messages)}"
        )
    args: list[Any] = [
        t.sid,
        t.max_turns,
        t.max_tokens,
        t.ttl_ms,
        "1" if return_evicted else "0",
        t.cfg.max_keys_per_scope,
        MAX_THREAD_BYTES,
        read,
        last,
        budget,
    ]
    sent: list[Message] = []  # as sent: the caller may change `messages` meanwhile
    counts: list[int] = []
    size = 0  # the entries' bytes, as the thread will hold them
    for m in messages:
        if type(m) is not Message:
            m = _message_of(t, m)
        n = turn_tokens(t, m)
        if t.max_tokens and n > t.max_tokens:
            raise t.error(
                InvalidValueError,
                f"message {m.id!r} has {n} tokens, more than max_tokens={t.max_tokens}",
            )
        tail = entry_tail(t, m, n)
        size += STAMP_BYTES + len(tail)
        if size > MAX_CALL_BYTES:
            raise t.error(
                InvalidValueError,
                f"at most {MAX_CALL_BYTES} bytes of encoded messages per call",
            )
        args += (m.id, n, tail)
        sent.append(m)
        counts.append(n)
    if check is not None:
        check(sent)
    args += t.events_args

    def parse(reply: list[Any]) -> Appended:
        created = int(reply[0]) / 1000
        stored, skipped = [], []
        for m, n, flag in zip(sent, counts, reply[1], strict=True):
            if flag == 49:  # b"1"; iterating bytes gives ints
                stored.append(as_stored(m, created, n))
            else:
                skipped.append(m.id)
        dropped = int(reply[2])
        context: tuple[Message, ...] = ()
        if not read:
            evicted = tuple(decode_entries(t, reply[3:])) if len(reply) > 3 else ()
        else:
            end = 3 + dropped if return_evicted else 3
            evicted = tuple(decode_entries(t, reply[3:end])) if end > 3 else ()
            found = decode_entries(t, reply[end:])
            context = tuple(_within(found, cut) if cut else found)
        out = _new(Appended)
        _set_messages(out, tuple(stored))
        _set_skipped(out, tuple(skipped))
        _set_evicted_count(out, dropped)
        _set_evicted(out, evicted)
        _set_context(out, context)
        return out

    return Call(script("history_append"), t.write_keys, tuple(args), parse, t.id, t.label)


def _message_of(t: Thread, m: object) -> Message:
    """`m` as a Message: itself, or the Message of an OpenAI-format dict."""
    if isinstance(m, Message):
        return m
    if not isinstance(m, Mapping):
        raise t.error(
            InvalidValueError,
            f"expected a Message or an OpenAI-format dict, not {type(m).__name__}",
        )
    try:
        return Message.from_dict(m)
    except InvalidValueError as exc:
        raise t.error(InvalidValueError, exc.message) from None


# an Appended built from the reply (its fields are known good) skips the frozen dataclass's
# constructor, which sets each field through object.__setattr__
_set_messages, _set_skipped, _set_evicted_count, _set_evicted, _set_context = (
    Appended.__dict__[name].__set__ for name in Appended.__dataclass_fields__
)


Read = tuple[list[Message], bool]


def history_messages(t: Thread, last: int | None, max_tokens: int | None) -> Call[Read]:
    """The most recent turns within `last` turns and `max_tokens` tokens, oldest first, and
    whether the thread's sliding expiry is due to be re-armed (then send `history_touch`).
    Without a sliding expiry (or a ttl) to report on, and without a budget the server must
    apply, the call is a plain LRANGE."""
    n = 0 if last is None else positive_int("last", last, most=MAX_TURNS_LIMIT, scope=t.label)
    budget = (
        0
        if max_tokens is None
        else positive_int("max_tokens", max_tokens, most=MAX_TOKENS, scope=t.label)
    )
    ttl_ms = t.ttl_ms if t.sliding else 0
    cut = 0  # the budget the client applies
    if budget and 0 < n <= CLIENT_BUDGET_TURNS:
        cut, budget = budget, 0

    if ttl_ms or budget:

        def parse(reply: list[Any]) -> Read:
            found = decode_entries(t, reply[:-1])
            return (_within(found, cut) if cut else found), reply[-1] == 1

        args = (n, budget, ttl_ms)
        return Call(script("history_messages"), t.keys[:1], args, parse, t.id, t.label)

    def parse_plain(reply: list[Any]) -> Read:
        found = decode_entries(t, reply)
        return (_within(found, cut) if cut else found), False

    command = ("LRANGE", t.keys[0], -n if n else 0, -1)
    return Call(
        script("history_messages"), t.keys[:1], (n, 0, 0), parse_plain, t.id, t.label, None, command
    )


def _within(found: list[Message], budget: int) -> list[Message]:
    """The longest run of the newest of `found` (oldest first) within `budget` tokens."""
    used = 0
    for i in range(len(found) - 1, -1, -1):
        used += found[i].tokens or 0
        if used > budget:
            return found[i + 1 :]
    return found


def history_touch(t: Thread) -> Call[bool]:
    """Re-arm the thread's sliding expiry, which a read reported due."""
    return Call(script("history_touch"), t.keys, (t.sid, t.ttl_ms), is_one, t.id, t.label)


def history_len(t: Thread) -> Call[int]:
    """A plain LLEN (the script it stands for does just that)."""
    key = t.keys[0]
    return Call(script("history_len"), (key,), (), int, t.id, t.label, None, ("LLEN", key))


def history_ttl(t: Thread) -> Call[float | None]:
    def parse(reply: int) -> float | None:
        if reply == -2:
            raise MissingKeyError("the thread holds no turns", key=t.id, scope=t.label)
        return None if reply == -1 else reply / 1000

    key = t.keys[0]  # a plain PTTL (the script it stands for does just that)
    return Call(script("history_ttl"), (key,), (), parse, t.id, t.label, None, ("PTTL", key))


def history_clear(t: Thread) -> Call[int]:
    args = (t.sid, *t.events_args)
    return Call(script("history_clear"), t.write_keys, args, int, t.id, t.label)


def history_delete(t: Thread) -> Call[bool]:
    args = (t.sid, *t.events_args)
    return Call(script("history_delete"), t.write_keys, args, is_one, t.id, t.label)


def history_pop(t: Thread) -> Call[Message | None]:
    """Remove the newest turn and return it (None when the thread holds no turns)."""

    def parse(reply: bytes | None) -> Message | None:
        return None if reply is None else decode_entries(t, [reply])[0]

    args = (t.sid, *t.events_args)
    return Call(script("history_pop"), t.write_keys, args, parse, t.id, t.label)


def history_fork(
    t: Thread, new: Thread, upto: int | None, entries: Sequence[bytes] = ()
) -> Call[int]:
    """Copy the first `upto` turns (all when None) of `t` into the new thread `new`; or,
    given `entries` (an encrypted thread's, sealed again for `new` by `reseal`), write
    those."""
    n = 0 if upto is None else positive_int("upto", upto, most=MAX_TURNS_LIMIT, scope=t.label)
    if new.id == t.id:
        raise t.error(InvalidValueError, "a thread cannot be forked into itself")
    keys = (t.keys[0], *new.write_keys)  # the log, when there is one, is the scope's
    args: tuple[Arg, ...] = (new.sid, n, new.ttl_ms, t.cfg.max_keys_per_scope, t.sid)
    args += (len(entries), *entries, *new.events_args)
    return Call(script("history_fork"), keys, args, int, new.id, t.label)


def history_entries(t: Thread, upto: int | None) -> Call[list[bytes]]:
    """The oldest `upto` turns (all when None) as stored: what an encrypted fork reads."""
    n = 0 if upto is None else positive_int("upto", upto, most=MAX_TURNS_LIMIT, scope=t.label)
    key = t.keys[0]  # a plain LRANGE (the script it stands for does just that)
    command = ("LRANGE", key, 0, n - 1)
    return Call(script("history_entries"), (key,), (n,), list, t.id, t.label, None, command)


def history_head(t: Thread, keep_last: int) -> Call[list[Message]]:
    """The turns a compaction keeping the newest `keep_last` would summarise."""
    if type(keep_last) is not int or not 0 <= keep_last <= MAX_TURNS_LIMIT:
        raise t.error(
            InvalidValueError,
            f"keep_last must be an integer from 0 to {MAX_TURNS_LIMIT}, got {shown(keep_last)}",
        )

    def parse(reply: list[bytes]) -> list[Message]:
        return decode_entries(t, reply)

    key = t.keys[0]  # a plain LRANGE (the script it stands for does just that)
    command = ("LRANGE", key, 0, -(keep_last + 1))
    return Call(script("history_head"), (key,), (keep_last,), parse, t.id, t.label, None, command)


def summary_message(t: Thread, result: object) -> Message:
    """The turn that replaces the summarised ones: a Message as returned, or a string as a
    system message marked `metadata={"summary": True}`."""
    if inspect.iscoroutine(result):
        result.close()  # never awaited: say so instead of warning later
    if inspect.isawaitable(result):
        raise t.error(InvalidValueError, "summarize returned an awaitable: use AsyncMemory for it")
    if isinstance(result, str):
        return Message.system(result, metadata={"summary": True})
    if isinstance(result, Message):
        return result
    raise t.error(
        InvalidValueError, f"summarize must return a str or a Message, not {type(result).__name__}"
    )


def history_compact(t: Thread, older: Sequence[Message], summary: Message) -> Call[Message | None]:
    """Replace `older` (the oldest turns, as read) with `summary`; None when the thread no
    longer starts with them."""
    n = turn_tokens(t, summary)
    if t.max_tokens and n > t.max_tokens:
        raise t.error(
            InvalidValueError, f"the summary has {n} tokens, more than max_tokens={t.max_tokens}"
        )
    if summary.id in {m.id for m in older}:
        raise t.error(InvalidValueError, "the summary needs an id of its own")
    tail = entry_tail(t, summary, n)
    args: list[Any] = [t.sid, t.ttl_ms, MAX_THREAD_BYTES, summary.id, n, tail, t.max_tokens or 0]
    args.extend(m.id for m in older)
    args.extend(t.events_args)

    def parse(reply: list[int]) -> Message | None:
        if reply[1] == 0:
            return None
        return as_stored(summary, int(reply[0]) / 1000, n)

    return Call(script("history_compact"), t.write_keys, tuple(args), parse, t.id, t.label)


def history_threads(s: Target, offset: int, limit: int) -> Call[list[ThreadInfo]]:
    """A page of the scope's live threads, most recently written first."""
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise InvalidValueError(
            f"offset must be an integer from 0 to {MAX_OFFSET}, got {shown(offset)}", scope=s.label
        )
    positive_int("limit", limit, most=MAX_PAGE, scope=s.label)

    keyspace = s.cfg.keyspace

    def parse(reply: list[bytes]) -> list[ThreadInfo]:
        out = []
        for i in range(0, len(reply), 3):
            expiry = int(float(reply[i + 2]))
            out.append(
                ThreadInfo(
                    keyspace.plain(reply[i].decode(), "thread"),
                    int(float(reply[i + 1])) / 1000,
                    None if expiry >= NOEXP_MS else expiry / 1000,
                )
            )
        return out

    keys = _index(s)
    return Call(script("history_threads"), keys, (offset, limit), parse, None, s.label)


def history_thread_count(s: Target) -> Call[int]:
    return Call(script("history_thread_count"), _index(s), (), int, None, s.label)


def _index(s: Target) -> tuple[str, str]:
    p = s.cfg.keyspace.prefix(s.ref)
    return f"{p}:ta", f"{p}:tx"
