"""A thread resolved once (keys, caps, token counter), and the stored form of its turns.

A thread's turns are a list of entries: a fixed binary header the scripts read (created ms,
tokens, message id), then the message encoded by the Memory's codec (opaque to the scripts),
so that reading the newest turns is one LRANGE. The header is the start of a msgpack array,
so with the default codec a read's entries decode in one msgpack call. A hash of the
thread's message ids makes appends idempotent. See the history layout in lua/_prelude.lua.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import msgpack

from .._codec import MsgpackCodec
from .._config import MAX_CALL_BYTES, Config, positive_int
from .._crypto import bind
from .._errors import DecryptionError, InvalidValueError, SerializationError
from .._keys import ScopeRef, validate_id
from .events import event_args, log_key
from .message import EXTRA_FIELDS, Message, TokenCounter, estimate_tokens, is_token_count

__all__ = [
    "DEFAULT_MAX_TURNS",
    "MAX_THREAD_BYTES",
    "MAX_TOKENS",
    "MAX_TURNS_LIMIT",
    "STAMP_BYTES",
    "Thread",
    "ThreadInfo",
    "decode_entries",
    "decode_joined",
    "reseal",
    "thread_of",
    "thread_suffixes",
    "entry_tail",
    "as_stored",
    "turn_tokens",
]

DEFAULT_MAX_TURNS = 10_000
MAX_TURNS_LIMIT = 100_000  # keeps every script's work (reads, copies, evictions) bounded
#: the most bytes of entries a thread holds (the oldest turns beyond it are dropped), so
#: that no read, copy or eviction of one thread holds the server for long
MAX_THREAD_BYTES = MAX_CALL_BYTES
MAX_TOKENS = 2**53 - 1  # a token cap or budget stays exact in the scripts' doubles
STAMP_BYTES = 10  # the start of an entry the script writes (see entry_tail)


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread of a scope: its id, last write and expiry (seconds since the epoch; None:
    never expires)."""

    id: str
    last_activity: float
    expires_at: float | None


def thread_suffixes(sid: str) -> tuple[str, str]:
    """What follows the scope's tag and ':' in a thread's keys: its turns (L) and its
    message ids (I), for the thread id as stored."""
    return f"t:{sid}:l", f"t:{sid}:i"


def thread_of(suffix: str) -> str | None:
    """The stored thread id whose turns (L) a key suffix (after the scope's tag and ':')
    names, or None when it names no thread's turns."""
    if suffix.startswith("t:") and suffix.endswith(":l") and len(suffix) > 4:
        return suffix[2:-2]
    return None


class Thread:
    """One thread resolved once: its keys, caps and token counter."""

    __slots__ = (
        "aad",
        "cfg",
        "counter",
        "events_args",
        "id",
        "index",
        "keys",
        "label",
        "max_tokens",
        "max_turns",
        "ref",
        "sid",
        "sliding",
        "ttl_ms",
        "write_keys",
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
        #: the id as stored (in key names and the thread index): encrypted with encrypt_names
        self.sid = sid = cfg.keyspace.stored(thread_id, "thread")
        turns, ids = thread_suffixes(sid)
        self.keys = (f"{p}:{turns}", f"{p}:{ids}", *self.index)
        scope_aad = cfg.binding("t", ref.kind, ref.id)
        #: with encryption, what its turns are bound to (each adds its message id)
        self.aad = None if scope_aad is None else bind(scope_aad, thread_id)
        # a write's KEYS and extra ARGV: the scope's change log when events are on
        self.write_keys: tuple[str, ...] = self.keys
        self.events_args: tuple[str, ...] = ()
        if cfg.events:
            self.write_keys = (*self.keys, log_key(p))
            self.events_args = event_args(cfg)
        self.max_turns = (
            DEFAULT_MAX_TURNS
            if max_turns is None
            else positive_int("max_turns", max_turns, most=MAX_TURNS_LIMIT, scope=self.label)
        )
        self.max_tokens = (
            0
            if max_tokens is None
            else positive_int("max_tokens", max_tokens, most=MAX_TOKENS, scope=self.label)
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


def turn_tokens(t: Thread, m: Message) -> int:
    if m.tokens is not None:
        return m.tokens
    n = t.counter(m)
    if not is_token_count(n):
        raise t.error(
            InvalidValueError, f"the token counter returned {n!r}, not an int in [0, 2**53)"
        )
    return n


def entry_tail(t: Thread, m: Message, tokens: int) -> bytes:
    """A turn entry after the 10 bytes the script writes (0x94, 0xcf, created ms): 0xcf and
    the token count, the id as a msgpack str, then the body, the message encoded by the
    codec as [role, content, name, metadata, tool_call_id, tool_calls, extra], trailing
    empties left out; `extra` holds the rarer OpenAI fields that are set (`EXTRA_FIELDS`:
    function_call, refusal, audio, annotations) as a dict by name. Turns stored before
    `extra` existed are the same with it left out."""
    if (
        m.name is None
        and not m.metadata
        and m.tool_call_id is None
        and m.tool_calls is None
        and m.function_call is None
        and m.refusal is None
        and m.audio is None
        and m.annotations is None
    ):
        doc: list[Any] = [m.role, m.content]
    else:
        doc = [
            m.role,
            m.content,
            m.name,
            m.metadata or None,
            m.tool_call_id,
            m.tool_calls,
            _extra(m),
        ]
        while doc[-1] is None:  # content may be None: the loop stops at the role
            doc.pop()
        if len(doc) == 1:
            doc.append(None)
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
    if t.aad is not None:
        body = _sealed_body(t, m.id, body)
    mid = m.id.encode()
    size = len(mid)
    head = b"\xd9" + size.to_bytes(1, "big") if size < 256 else b"\xda" + size.to_bytes(2, "big")
    return b"\xcf" + tokens.to_bytes(8, "big") + head + mid + body


def _extra(m: Message) -> dict[str, Any] | None:
    extra = {k: v for k in EXTRA_FIELDS if (v := getattr(m, k)) is not None}
    return extra or None


def _sealed_body(t: Thread, mid: str, body: bytes) -> bytes:
    """An encrypted body: a msgpack bin (so an entry stays one msgpack array whatever the
    codec) of the body sealed under the thread and message id."""
    assert t.cfg.crypto is not None and t.aad is not None
    return _bin(t.cfg.crypto.seal(body, bind(t.aad, mid)))


class _Fields:
    """A Message's slots without its checks. Messages the server hands back (validated when
    they were appended) are built as one of these, then become Messages: the slots are the
    same, so the class can be swapped: well under half the cost of setting the frozen slots
    one by one, and a seventh of the dataclass's constructor."""

    __slots__ = Message.__slots__


_new = object.__new__


def as_stored(m: Message, created_at: float, tokens: int) -> Message:
    """`m` with the fields the server set."""
    out: Any = _new(_Fields)
    out.role, out.content, out.name, out.metadata = m.role, m.content, m.name, m.metadata
    out.id, out.created_at, out.tokens = m.id, created_at, tokens
    out.tool_call_id, out.tool_calls = m.tool_call_id, m.tool_calls
    out.function_call, out.refusal, out.audio, out.annotations = (
        m.function_call,
        m.refusal,
        m.audio,
        m.annotations,
    )
    out.__class__ = Message
    return cast(Message, out)


# by a body's length: the trailing fields it left out (IndexError beyond seven fields)
_ABSENT = ((), (), (None,) * 5, (None,) * 4, (None,) * 3, (None,) * 2, (None,), ())


def decode_entries(t: Thread, entries: list[bytes]) -> list[Message]:
    """Turn entries (see the module docstring) into Messages."""
    codec = t.cfg.codec
    if t.aad is not None:
        return _opened(t, entries)
    if type(codec) is MsgpackCodec and entries:
        try:
            return decode_joined(t, len(entries), b"".join(entries))
        except SerializationError:
            pass  # decoded one by one below, to name the culprit
    return _messages(t, [_split(t, e, codec.decode) for e in entries])


def _opened(t: Thread, entries: list[bytes]) -> list[Message]:
    """Encrypted turns: the entries decode as one msgpack array whatever the codec (their
    bodies are bins), then each body is opened (turns opened lately are remembered: see
    `_crypto.Opened`); with the default codec the opened bodies decode at once too."""
    crypto, codec = t.cfg.crypto, t.cfg.codec
    assert crypto is not None and t.aad is not None
    aad, label = t.aad, t.label
    seen = crypto.opened.rows
    rows: list[Any] = []
    for entry in entries:
        row = seen.get((aad, entry))
        if row is None:
            rows = _open_rows(t, entries)
            break
        rows.append(row)
    if not rows:
        return []
    plains = [row[3] for row in rows]
    if type(codec) is MsgpackCodec:
        joined = b"\xdd" + len(plains).to_bytes(4, "big") + b"".join(plains)
        try:
            docs = codec.decode(joined)
        except Exception as exc:
            raise SerializationError(
                f"cannot decode stored messages: {exc}", key=t.id, scope=label
            ) from exc
    else:
        docs = []
        for row in rows:
            try:
                docs.append(codec.decode(row[3]))
            except Exception as exc:
                raise SerializationError(
                    f"cannot decode stored message {row[2]!r}: {exc}", key=t.id, scope=label
                ) from exc
    return _messages(t, [(r[0], r[1], r[2], doc) for r, doc in zip(rows, docs, strict=True)])


def _open_rows(t: Thread, entries: list[bytes]) -> list[tuple[Any, ...]]:
    """Rows (ms, tokens, message id, opened body) of encrypted entries, remembered."""
    crypto = t.cfg.crypto
    assert crypto is not None and t.aad is not None
    aad = t.aad
    try:
        rows = msgpack.unpackb(b"\xdd" + len(entries).to_bytes(4, "big") + b"".join(entries))
    except Exception:  # one by one, to name the culprit
        rows = [list(_split(t, e, _unpack)) for e in entries]
    plains = crypto.open_turns(rows, aad)
    if plains is None:  # one failed: open each, to raise the error that names it
        plains = [_open_body(t, row[2], row[3]) for row in rows]
    out = []
    keep = crypto.opened.keep
    for entry, row, plain in zip(entries, rows, plains, strict=True):
        opened = (row[0], row[1], row[2], plain)
        keep(aad, entry, opened)
        out.append(opened)
    return out


def _open_body(t: Thread, mid: str, body: Any) -> bytes:
    """A turn's body opened under its thread and message id; DecryptionError when it is
    not a sealed one (a turn written before encryption was turned on) or fails to open."""
    crypto = t.cfg.crypto
    assert crypto is not None and t.aad is not None
    if type(body) is not bytes:
        raise DecryptionError(
            f"stored message {mid!r} is not encrypted (written before encryption was turned "
            "on: mem.reencrypt() encrypts it)",
            key=t.id,
            scope=t.label,
        )
    return crypto.open(body, bind(t.aad, mid), key=t.id, scope=t.label)


def reseal(t: Thread, new: Thread, entries: list[bytes]) -> list[bytes]:
    """An encrypted thread's entries, each body opened under `t` and sealed for `new` (the
    header, with its time, tokens and id, kept): what a fork writes."""
    out = []
    for entry in entries:
        _ms, _tokens, mid, body = _split(t, entry, _unpack)
        plain = _open_body(t, mid, body)
        head = len(entry) - len(_bin(body))
        out.append(entry[:head] + _sealed_body(new, mid, plain))
    return out


def _bin(data: bytes) -> bytes:
    """`data` as a msgpack bin."""
    n = len(data)
    if n < 256:
        return b"\xc4" + n.to_bytes(1, "big") + data
    if n < 65536:
        return b"\xc5" + n.to_bytes(2, "big") + data
    return b"\xc6" + n.to_bytes(4, "big") + data


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data)


def decode_joined(t: Thread, count: int, joined: bytes) -> list[Message]:
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
            # doc: [role, content, name, metadata, tool_call_id, tool_calls, extra], trailing
            # empties left out; most turns are just [role, content]
            if len(doc) == 2:
                m.role, m.content = doc
                m.name = m.tool_call_id = m.tool_calls = None
                m.function_call = m.refusal = m.audio = m.annotations = None
                m.metadata = {}
            else:
                doc += _ABSENT[len(doc)]
                m.role, m.content, m.name, metadata, m.tool_call_id, m.tool_calls, extra = doc
                m.metadata = metadata or {}
                if extra:
                    get = extra.get
                    m.function_call, m.refusal = get("function_call"), get("refusal")
                    m.audio, m.annotations = get("audio"), get("annotations")
                else:
                    m.function_call = m.refusal = m.audio = m.annotations = None
            m.id = mid
            m.created_at = ms / 1000
            m.tokens = tokens
            m.__class__ = Message
            append(m)
    except Exception as exc:
        if any(type(row[3]) is bytes for row in rows):
            raise DecryptionError(
                "the stored messages are encrypted, and this Memory has no encryption_key",
                key=t.id,
                scope=t.label,
            ) from None
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
