"""Conversation history: one function per `lua/history_*.lua` script, and `Message`.

A thread's turns are a list of entries: a fixed binary header the scripts read (created ms,
tokens, message id), then the message encoded by the Memory's codec (opaque to the scripts),
so that reading the newest turns is one LRANGE. The header is the start of a msgpack array,
so with the default codec a read's entries decode in one msgpack call. A hash of the
thread's message ids makes appends idempotent. See the history layout in lua/_prelude.lua.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from .._codec import MsgpackCodec
from .._config import Config, positive_int
from .._errors import InvalidValueError, MissingKeyError, SerializationError
from .._keys import ScopeRef, validate_id
from ._call import Call, Target, is_one, script

__all__ = [
    "DEFAULT_MAX_TURNS",
    "MAX_TURNS_LIMIT",
    "ROLES",
    "Appended",
    "AsyncSummarizer",
    "Message",
    "Summarizer",
    "Thread",
    "ThreadInfo",
    "TokenCounter",
    "estimate_tokens",
    "history_append",
    "history_clear",
    "history_compact",
    "history_delete",
    "history_fork",
    "history_head",
    "history_len",
    "history_messages",
    "history_thread_count",
    "history_threads",
    "history_ttl",
    "summary_message",
]

ROLES = ("system", "user", "assistant", "tool", "function")
DEFAULT_MAX_TURNS = 10_000
MAX_TURNS_LIMIT = 100_000  # keeps every script's work (reads, copies, evictions) bounded
MAX_PAGE = 1000
NOEXP_MS = 2**52  # the scripts' "never expires"


def _new_id() -> str:
    return os.urandom(16).hex()  # 128 random bits, like a uuid4, at a fifth of the cost


@dataclass(frozen=True, slots=True)
class Message:
    """One turn of a conversation.

    `content` is a string, or a list of parts for multi-modal messages (OpenAI style
    `{"type": "text", "text": ...}` dicts); it may be None only for an assistant message
    with `tool_calls`. `id` is generated when not given and makes appends idempotent.
    `created_at` (seconds since the epoch, server clock) is set when the turn is stored.
    `tokens` overrides the history's token counter for this message.
    """

    role: str
    content: str | list[Any] | None
    name: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_new_id)
    created_at: float | None = None
    tokens: int | None = None
    tool_call_id: str | None = None
    tool_calls: list[Any] | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InvalidValueError(f"unknown role {self.role!r}; expected one of {ROLES}")
        content = self.content
        if content is None:
            if not self.tool_calls:
                raise InvalidValueError("content may be None only with tool_calls")
        elif not isinstance(content, (str, list)):
            raise InvalidValueError(
                f"content is a string or a list of parts, not {type(content).__name__}"
            )
        for what, value in (("name", self.name), ("tool_call_id", self.tool_call_id)):
            if value is not None and not isinstance(value, str):
                raise InvalidValueError(f"{what} is a string, not {type(value).__name__}")
        if not isinstance(self.metadata, dict):
            raise InvalidValueError(f"metadata is a dict, not {type(self.metadata).__name__}")
        if self.tool_calls is not None and not isinstance(self.tool_calls, list):
            raise InvalidValueError("tool_calls is a list")
        _check_id(self.id)
        if self.tokens is not None and not _count(self.tokens):
            raise InvalidValueError(f"tokens must be an integer in [0, 2**53), got {self.tokens!r}")

    def __hash__(self) -> int:  # by id: the generated hash would fail on `metadata`
        return hash(self.id)

    @classmethod
    def system(cls, content: str | list[Any], **kw: Any) -> Message:
        return cls("system", content, **kw)

    @classmethod
    def user(cls, content: str | list[Any], **kw: Any) -> Message:
        return cls("user", content, **kw)

    @classmethod
    def assistant(cls, content: str | list[Any] | None, **kw: Any) -> Message:
        return cls("assistant", content, **kw)

    @classmethod
    def tool(cls, content: str | list[Any], tool_call_id: str, **kw: Any) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id, **kw)

    def to_dict(self) -> dict[str, Any]:
        """The message in the OpenAI chat format (role, content, and name, tool_call_id
        and tool_calls when set)."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name is not None:
            out["name"] = self.name
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.tool_calls is not None:
            out["tool_calls"] = self.tool_calls
        return out


MAX_ID_BYTES = 1024


def _check_id(mid: object) -> None:
    if type(mid) is str and 0 < len(mid) <= MAX_ID_BYTES and mid.isascii():
        return  # the common case (generated ids), decided without encoding
    if not isinstance(mid, str) or not mid:
        raise InvalidValueError(f"message ids are non-empty strings, got {mid!r}")
    try:
        size = len(mid.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidValueError("message ids must be valid UTF-8 text") from exc
    if size > MAX_ID_BYTES:
        raise InvalidValueError(f"message ids are at most {MAX_ID_BYTES} bytes")


def _count(n: object) -> bool:
    return type(n) is int and 0 <= n < 2**53  # the scripts add token counts as doubles


TokenCounter = Callable[[Message], int]
Summarizer = Callable[[list[Message]], "str | Message"]
AsyncSummarizer = Callable[[list[Message]], "str | Message | Awaitable[str | Message]"]

_PER_MESSAGE = 4  # role and separators, as chat formats count them
_PER_NON_TEXT_PART = 85  # an image part at low detail


def estimate_tokens(message: Message) -> int:
    """A cheap token estimate: 4 per message, plus one per 4 characters of text (content,
    name, tool calls), plus 85 per non-text part. Pass an exact counter (e.g. tiktoken's)
    to `history(..., counter=...)`, or `tokens=` on a Message, when it matters."""
    chars = len(message.name or "")
    content = message.content
    extra = 0
    if isinstance(content, str):
        chars += len(content)
    elif content is not None:
        for part in content:
            if isinstance(part, str):
                chars += len(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                chars += len(part["text"])
            else:
                extra += _PER_NON_TEXT_PART
    if message.tool_calls:
        chars += len(repr(message.tool_calls))
    return _PER_MESSAGE + extra + (chars + 3) // 4  # chars / 4, rounded up


@dataclass(frozen=True, slots=True)
class Appended:
    """What `append`/`extend` did: the messages stored (with `created_at` and `tokens`),
    the ids skipped because the thread already held them, how many of the oldest turns
    were dropped to respect the caps, and those turns (when asked for), oldest first."""

    messages: tuple[Message, ...]
    skipped: tuple[str, ...]
    evicted_count: int
    evicted: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread of a scope: its id, last write and expiry (seconds since the epoch; None:
    never expires)."""

    id: str
    last_activity: float
    expires_at: float | None


class Thread:
    """One thread resolved once: its keys, caps and token counter."""

    __slots__ = (
        "cfg",
        "counter",
        "id",
        "index",
        "keys",
        "label",
        "max_tokens",
        "max_turns",
        "ref",
        "sliding",
        "ttl_ms",
    )

    def __init__(
        self,
        cfg: Config,
        ref: ScopeRef,
        thread_id: str,
        *,
        max_turns: int | None = None,
        max_tokens: int | None = None,
        ttl: float | None = None,
        sliding: bool = True,
        counter: TokenCounter | None = None,
    ) -> None:
        self.label = str(ref)
        self.id = validate_id("thread", thread_id)
        self.cfg = cfg
        self.ref = ref
        p = cfg.keyspace.prefix(ref)
        self.index = (f"{p}:ta", f"{p}:tx")
        self.keys = (f"{p}:t:{thread_id}:l", f"{p}:t:{thread_id}:i", *self.index)
        self.max_turns = (
            DEFAULT_MAX_TURNS
            if max_turns is None
            else positive_int("max_turns", max_turns, scope=self.label)
        )
        if self.max_turns > MAX_TURNS_LIMIT:
            raise InvalidValueError(
                f"max_turns is at most {MAX_TURNS_LIMIT}, got {max_turns}", scope=self.label
            )
        self.max_tokens = (
            0 if max_tokens is None else positive_int("max_tokens", max_tokens, scope=self.label)
        )
        self.ttl_ms = cfg.ttl_ms(ttl, key=thread_id, scope=self.label)
        if not isinstance(sliding, bool):
            raise InvalidValueError("sliding is True or False", scope=self.label)
        self.sliding = sliding
        if counter is not None and not callable(counter):
            raise InvalidValueError("counter is a callable: Message -> int", scope=self.label)
        self.counter = counter or estimate_tokens

    def child(self, thread_id: str) -> Thread:
        """Another thread of the same scope with the same settings."""
        return Thread(
            self.cfg,
            self.ref,
            thread_id,
            max_turns=self.max_turns,
            max_tokens=self.max_tokens or None,
            ttl=self.ttl_ms / 1000 if self.ttl_ms else None,
            sliding=self.sliding,
            counter=self.counter,
        )

    def error(self, cls: type[InvalidValueError], message: str) -> InvalidValueError:
        return cls(message, key=self.id, scope=self.label)


# -- encoding ------------------------------------------------------------------------------


def _tokens(t: Thread, m: Message) -> int:
    if m.tokens is not None:
        return m.tokens
    n = t.counter(m)
    if not _count(n):
        raise t.error(
            InvalidValueError, f"the token counter returned {n!r}, not an int in [0, 2**53)"
        )
    return n


def _entry_tail(t: Thread, m: Message, tokens: int) -> bytes:
    """A turn entry after the 10 bytes the script writes (0x94, 0xcf, created ms): 0xcf and
    the token count, the id as a msgpack str, then the body, the message encoded by the
    codec as [role, content, name, metadata, tool_call_id, tool_calls], trailing empties
    left out."""
    if m.name is None and not m.metadata and m.tool_call_id is None and m.tool_calls is None:
        doc: list[Any] = [m.role, m.content]
    else:
        doc = [m.role, m.content, m.name, m.metadata or None, m.tool_call_id, m.tool_calls]
        while doc[-1] is None:  # never past content: a message without it has tool_calls
            doc.pop()
    try:
        body = t.cfg.codec.encode(doc)
    except Exception as exc:
        raise SerializationError(
            f"cannot serialise message {m.id!r}: {exc}", key=t.id, scope=t.label
        ) from exc
    if len(body) > t.cfg.max_value_bytes:
        raise t.error(
            InvalidValueError,
            f"message {m.id!r} is {len(body)} bytes encoded; the cap is {t.cfg.max_value_bytes}",
        )
    mid = m.id.encode()
    size = len(mid)
    head = b"\xd9" + size.to_bytes(1, "big") if size < 256 else b"\xda" + size.to_bytes(2, "big")
    return b"\xcf" + tokens.to_bytes(8, "big") + head + mid + body


class _Fields:
    """A Message's slots without its checks. Messages the server hands back (validated when
    they were appended) are built as one of these, then become Messages: the slots are the
    same, so the class can be swapped: well under half the cost of setting the frozen slots
    one by one, and a seventh of the dataclass's constructor."""

    __slots__ = Message.__slots__


_new = object.__new__


def _stored(m: Message, created_at: float, tokens: int) -> Message:
    """`m` with the fields the server set."""
    out: Any = _new(_Fields)
    out.role, out.content, out.name, out.metadata = m.role, m.content, m.name, m.metadata
    out.id, out.created_at, out.tokens = m.id, created_at, tokens
    out.tool_call_id, out.tool_calls = m.tool_call_id, m.tool_calls
    out.__class__ = Message
    return cast(Message, out)


# by a body's length: the trailing fields it left out (IndexError beyond six fields)
_ABSENT = ((), (), (None,) * 4, (None,) * 3, (None,) * 2, (None,), ())


def _decode_all(t: Thread, entries: list[bytes]) -> list[Message]:
    """Turn entries (see the module docstring) into Messages."""
    codec = t.cfg.codec
    if type(codec) is MsgpackCodec and entries:
        try:
            return _decode_joined(t, len(entries), b"".join(entries))
        except SerializationError:
            pass  # decoded one by one below, to name the culprit
    return _messages(t, [_split(t, e, codec.decode) for e in entries])


def _decode_joined(t: Thread, count: int, joined: bytes) -> list[Message]:
    """Messages from `count` msgpack entries back to back: each entry is one msgpack value
    [created ms, tokens, id, body], so they decode at once, as one array."""
    try:
        rows = t.cfg.codec.decode(b"\xdd" + count.to_bytes(4, "big") + joined)
    except Exception as exc:
        raise SerializationError(
            f"cannot decode stored messages: {exc}", key=t.id, scope=t.label
        ) from exc
    return _messages(t, rows)


def _messages(t: Thread, rows: list[Any]) -> list[Message]:
    out: list[Message] = []
    append = out.append
    try:
        for ms, tokens, mid, doc in rows:
            m: Any = _new(_Fields)
            # doc: [role, content, name, metadata, tool_call_id, tool_calls], trailing empties
            # left out; most turns are just [role, content]
            if len(doc) == 2:
                m.role, m.content = doc
                m.name = m.tool_call_id = m.tool_calls = None
                m.metadata = {}
            else:
                doc += _ABSENT[len(doc)]
                m.role, m.content, m.name, metadata, m.tool_call_id, m.tool_calls = doc
                m.metadata = metadata or {}
            m.id = mid
            m.created_at = ms / 1000
            m.tokens = tokens
            m.__class__ = Message
            append(m)
    except Exception as exc:
        raise SerializationError(
            f"cannot decode a stored message: {exc}", key=t.id, scope=t.label
        ) from exc
    return out


def _split(t: Thread, entry: bytes, decode: Callable[[bytes], Any]) -> tuple[Any, ...]:
    """One entry -> (created ms, tokens, id, decoded body)."""
    mid = b"?"
    try:
        ms = int.from_bytes(entry[2:10], "big")
        tokens = int.from_bytes(entry[11:19], "big")
        if entry[19] == 0xD9:
            start = 21
            end = start + entry[20]
        else:
            start = 22
            end = start + int.from_bytes(entry[20:22], "big")
        mid = entry[start:end]
        return ms, tokens, mid.decode(), decode(entry[end:])
    except Exception as exc:
        raise SerializationError(
            f"cannot decode stored message {mid!r}: {exc}", key=t.id, scope=t.label
        ) from exc


# -- calls ---------------------------------------------------------------------------------


def history_append(t: Thread, messages: Sequence[Message], return_evicted: bool) -> Call[Appended]:
    """Append `messages` (skipping ids already in the thread) and enforce the caps."""
    if type(messages) is not list and (
        isinstance(messages, Message) or not isinstance(messages, Sequence)
    ):
        raise t.error(InvalidValueError, "extend takes a sequence of Messages")
    if len(messages) > t.cfg.max_batch:
        raise t.error(
            InvalidValueError, f"at most {t.cfg.max_batch} messages per call, got {len(messages)}"
        )
    args: list[Any] = [
        t.id,
        t.max_turns,
        t.max_tokens,
        t.ttl_ms,
        "1" if return_evicted else "0",
        t.cfg.max_keys_per_scope,
    ]
    sent: list[Message] = []  # as sent: the caller may change `messages` meanwhile
    counts: list[int] = []
    for m in messages:
        if not isinstance(m, Message):
            raise t.error(InvalidValueError, f"expected a Message, not {type(m).__name__}")
        n = _tokens(t, m)
        if t.max_tokens and n > t.max_tokens:
            raise t.error(
                InvalidValueError,
                f"message {m.id!r} has {n} tokens, more than max_tokens={t.max_tokens}",
            )
        args += (m.id, n, _entry_tail(t, m, n))
        sent.append(m)
        counts.append(n)

    def parse(reply: list[Any]) -> Appended:
        created = int(reply[0]) / 1000
        stored, skipped = [], []
        for m, n, flag in zip(sent, counts, reply[1], strict=True):
            if flag == 49:  # b"1"; iterating bytes gives ints
                stored.append(_stored(m, created, n))
            else:
                skipped.append(m.id)
        evicted = tuple(_decode_all(t, reply[3:])) if len(reply) > 3 else ()
        out = _new(Appended)
        _set_messages(out, tuple(stored))
        _set_skipped(out, tuple(skipped))
        _set_evicted_count(out, int(reply[2]))
        _set_evicted(out, evicted)
        return out

    return Call(script("history_append"), t.keys, tuple(args), parse, t.id, t.label)


# an Appended built from the reply (its fields are known good) skips the frozen dataclass's
# constructor, which sets each field through object.__setattr__
_set_messages, _set_skipped, _set_evicted_count, _set_evicted = (
    Appended.__dict__[name].__set__ for name in Appended.__dataclass_fields__
)


def history_messages(t: Thread, last: int | None, max_tokens: int | None) -> Call[list[Message]]:
    """The most recent turns within `last` turns and `max_tokens` tokens, oldest first."""
    n = 0 if last is None else positive_int("last", last, scope=t.label)
    budget = 0 if max_tokens is None else positive_int("max_tokens", max_tokens, scope=t.label)
    ttl_ms = t.ttl_ms if t.sliding else 0

    if type(t.cfg.codec) is MsgpackCodec:

        def parse(reply: list[Any]) -> list[Message]:
            return _decode_joined(t, reply[0], reply[1]) if reply[0] else []

        args = (t.id, n, budget, ttl_ms, "1")
    else:

        def parse(reply: list[Any]) -> list[Message]:
            return _decode_all(t, reply)

        args = (t.id, n, budget, ttl_ms, "0")
    return Call(script("history_messages"), t.keys, args, parse, t.id, t.label)


def history_len(t: Thread) -> Call[int]:
    return Call(script("history_len"), t.keys[:1], (), int, t.id, t.label)


def history_ttl(t: Thread) -> Call[float | None]:
    def parse(reply: int) -> float | None:
        if reply == -2:
            raise MissingKeyError("the thread holds no turns", key=t.id, scope=t.label)
        return None if reply == -1 else reply / 1000

    return Call(script("history_ttl"), t.keys[:1], (), parse, t.id, t.label)


def history_clear(t: Thread) -> Call[int]:
    return Call(script("history_clear"), t.keys, (t.id,), int, t.id, t.label)


def history_delete(t: Thread) -> Call[bool]:
    return Call(script("history_delete"), t.keys, (t.id,), is_one, t.id, t.label)


def history_fork(t: Thread, new: Thread, upto: int | None) -> Call[int]:
    """Copy the first `upto` turns (all when None) of `t` into the new thread `new`."""
    n = 0 if upto is None else positive_int("upto", upto, scope=t.label)
    if new.id == t.id:
        raise t.error(InvalidValueError, "a thread cannot be forked into itself")
    keys = (*t.keys[:2], *new.keys)
    args = (new.id, n, new.ttl_ms, t.cfg.max_keys_per_scope)
    return Call(script("history_fork"), keys, args, int, new.id, t.label)


def history_head(t: Thread, keep_last: int) -> Call[list[Message]]:
    """The turns a compaction keeping the newest `keep_last` would summarise."""
    if type(keep_last) is not int or keep_last < 0:
        raise t.error(InvalidValueError, f"keep_last must be an integer >= 0, got {keep_last!r}")

    def parse(reply: list[bytes]) -> list[Message]:
        return _decode_all(t, reply)

    return Call(script("history_head"), t.keys[:1], (keep_last,), parse, t.id, t.label)


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
    n = _tokens(t, summary)
    if t.max_tokens and n > t.max_tokens:
        raise t.error(
            InvalidValueError, f"the summary has {n} tokens, more than max_tokens={t.max_tokens}"
        )
    if summary.id in {m.id for m in older}:
        raise t.error(InvalidValueError, "the summary needs an id of its own")
    args: list[Any] = [t.id, t.ttl_ms, summary.id, n, _entry_tail(t, summary, n)]
    args.extend(m.id for m in older)

    def parse(reply: list[int]) -> Message | None:
        if reply[1] == 0:
            return None
        return _stored(summary, int(reply[0]) / 1000, n)

    return Call(script("history_compact"), t.keys, tuple(args), parse, t.id, t.label)


def history_threads(s: Target, offset: int, limit: int) -> Call[list[ThreadInfo]]:
    """A page of the scope's live threads, most recently written first."""
    if type(offset) is not int or offset < 0:
        raise InvalidValueError(f"offset must be an integer >= 0, got {offset!r}", scope=s.label)
    positive_int("limit", limit, scope=s.label)
    if limit > MAX_PAGE:
        raise InvalidValueError(f"at most {MAX_PAGE} threads per page", scope=s.label)

    def parse(reply: list[bytes]) -> list[ThreadInfo]:
        out = []
        for i in range(0, len(reply), 3):
            expiry = int(float(reply[i + 2]))
            out.append(
                ThreadInfo(
                    reply[i].decode(),
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
