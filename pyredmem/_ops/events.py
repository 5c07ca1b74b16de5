"""Change events (no I/O): where they are logged, what a logged event holds, and how a
watcher's pattern maps to Redis channels.

With `Memory(events=True)` every write script also appends its events to the change log of
the scope (or cache bucket) it writes, in the same call, under the same hash tag:

    <ns>:{<tenant>:<kind>:<id>}:ev                  stream: a scope's values and threads
    <ns>:{<tenant>:cache:<name>:<scope>:<bucket>}:ev  stream: one cache bucket's entries

Each log entry (XADD MAXLEN ~ cap, id "*": the server clock) has these fields, flat, in
this order (absent fields are left out; "a" comes after "k"):

    o  the operation: set incr update delete clear expire (values), append delete clear
       compact fork expire (threads), set fill invalidate clear expire (cache entries),
       add correct retract clear (facts), add delete clear expire (recall items)
    w  what it is about: "v" a value, "t" a thread, "c" a cache entry, "f" a fact, "r" an
       item of the scope's recall index, "s" the whole scope (or cache bucket: `clear`)
    k  the value's key, the thread's id, the cache entry's key, the fact's subject, or the
       recall item's id (absent when w is "s", and for a clear of the facts or of the
       recall index)
    a  the fact's predicate (facts: add, correct, retract)
    v  the value's new version (values: set, incr, update); a fact's version id (add,
       correct: the one recorded; retract: each one ended); a recall item's version in
       its index (add)
    m  the message id (threads: append; delete of one turn, dropped by the caps or
       popped; compact: the summary's; fork: the newest turn copied). A thread's delete
       without m removes the whole thread.
    f  the thread forked from (threads: fork, logged on the new thread)
    y  p  with `events="values"`: the value's type ("m" | "i" | "f") and payload, or for
       an append (and a compact's summary), "e" and the stored entry (header and body, as
       the thread holds it), or for a recall add, "r" and the item's record ("<created
       ms>:<kind>\0<text and meta, sealed when the Memory encrypts>", its vector left out)

A write logs only what it changed (nothing for a message id already in the thread, a delete
of an absent key, a lost compare-and-set, a fill that lost its lease, a refused write), in
the order it happened: first an "expire" for each entry its purge removed (values and cache
entries past their expiry, cache entries evicted by max_entries, expired threads dropped
from the scope's thread list), then its own events. Expiry is logged when a later write
purges the entry; a scope, thread or cache bucket whose keys the server expires whole logs
nothing.

A script logging events gets the log as its last KEY and `event_args(cfg)` as its last three
ARGV: the log's cap (entries, trimmed approximately), its retention (ms: the log expires that
long after its scope's last event, give or take 1%: writes that keep their scope's hash
re-arm it only once 1% of it has run down, and note when in the hash's field "r") and "1" to
log values. (cache_clear, whose KEYS are every bucket's, takes (H, X, log) triples.)
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._config import Config, finite
from .._crypto import open_value
from .._errors import DecryptionError, InvalidValueError, shown
from .._keys import KINDS, Keyspace, ScopeRef

if TYPE_CHECKING:
    from ._call import Call

__all__ = [
    "EVENT_OPS",
    "Event",
    "LogName",
    "Matcher",
    "NOT_LOGGED",
    "after_id",
    "decode_entries_of",
    "decode_event",
    "event_args",
    "events_read",
    "log_key_digest",
    "log_key",
    "parse_log_key",
    "start_of",
]

#: every operation an event may name
EVENT_OPS = frozenset(
    {
        "set",
        "incr",
        "update",
        "delete",
        "clear",
        "expire",
        "append",
        "compact",
        "fork",
        "fill",
        "invalidate",
        "add",
        "correct",
        "retract",
    }
)

_TARGETS = {
    b"v": "value",
    b"t": "thread",
    b"c": "cache",
    b"f": "fact",
    b"r": "recall",
    b"s": "scope",
}


class _NotLogged:
    """The value of an event whose writer did not log values (`events=True`, not "values")."""

    _instance: _NotLogged | None = None

    def __new__(cls) -> _NotLogged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_LOGGED"

    def __bool__(self) -> bool:
        return False


NOT_LOGGED: Any = _NotLogged()


def event_args(cfg: Config) -> tuple[str, str, str]:
    """The last three ARGV of a write script that logs events."""
    return (str(cfg.events_max), str(cfg.events_ttl_ms), "1" if cfg.events == "values" else "0")


def log_key(prefix: str) -> str:
    """The change log under a hash-tag prefix: a scope's (`Keyspace.prefix`, no trailing
    colon) or a cache bucket's (ending with a colon)."""
    return f"{prefix}ev" if prefix.endswith(":") else f"{prefix}:ev"


@dataclass(frozen=True, slots=True)
class LogName:
    """What a log key names: a scope (kind, id) or a cache bucket (kind "cache", the cache's
    name with "@<scope>" when the cache is scoped). `name` is the text events carry as
    their scope; a cache bucket's also gives its cache's own name (`cache_name`) and scope
    label (`cache_scope`, "" when unscoped) apart, since both may hold "@"."""

    tenant: str | None
    kind: str
    name: str
    key: str
    cache_name: str = ""
    cache_scope: str = ""

    @property
    def ref(self) -> ScopeRef | None:
        return None if self.kind == "cache" else ScopeRef(self.kind, self.name)


def parse_log_key(keyspace: Keyspace, key: str | bytes) -> LogName | None:
    """The scope or cache a log key of this keyspace names, or None when it is not one (a
    key of another namespace or tenant, or not a log)."""
    text = key.decode("utf-8", "surrogateescape") if isinstance(key, bytes) else key
    head = f"{keyspace.namespace}:{{{keyspace.tenant or ''}:"
    if not text.startswith(head) or not text.endswith("}:ev"):
        return None
    inner = text[len(head) : -4]
    kind, sep, rest = inner.partition(":")
    if not sep:
        return None
    try:  # with encrypt_names, the ids are stored encrypted
        if kind == "cache":
            name, sep, tail = rest.partition(":")
            scope, sep2, _bucket = tail.rpartition(":")
            if not sep or not sep2:
                return None
            scope = keyspace.plain_label(scope)
            label = f"{name}@{scope}" if scope else name
            return LogName(keyspace.tenant, "cache", label, text, name, scope)
        if kind not in KINDS or "{" in rest or "}" in rest:
            return None
        return LogName(keyspace.tenant, kind, keyspace.plain(rest, kind) if rest else rest, text)
    except DecryptionError:  # not one of these names
        return None


def log_key_digest(key: str) -> str:
    """The short digest of a log key that event ids carry (after the dot)."""
    return hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=5).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """One change, as its writer logged it.

    `id` is unique across scopes ("<ms>-<seq>.<log digest>") and is the cursor to resume
    from (`watch(after=...)`, `changes(since=...)`). `kind` is the scope kind or "cache";
    `scope` the scope id ("" for global) or the cache name; `target` "value", "thread",
    "cache", "fact", "recall" (an item of the scope's recall index) or "scope"; `key` the
    value's key, thread id, cache key, fact's subject or recall item's id (None for a
    whole-scope `clear`, and a clear of the facts or the recall index); `at` the server
    time (seconds since the epoch). `value` is the new value (a Message for an append, a
    fact's object for an add or correct, a RecallItem for a recall add) when the writer
    logged values and the watcher asked for them, else NOT_LOGGED. `predicate`: a fact
    event's predicate.
    """

    id: str
    kind: str
    scope: str
    target: str
    op: str
    key: str | None
    at: float
    version: str | None = None
    message_id: str | None = None
    source: str | None = None
    value: Any = field(default=NOT_LOGGED, compare=False)
    predicate: str | None = None

    @property
    def position(self) -> tuple[int, int]:
        """(ms, seq): the event's place in its log."""
        return start_of(self.id)

    @property
    def stream_id(self) -> str:
        return self.id.partition(".")[0]

    @property
    def when(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.at, _dt.timezone.utc)


def _text(raw: Any) -> str | None:
    if raw is None:
        return None
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)


def _fields(raw: Any) -> Mapping[bytes, Any]:
    """Fields as redis-py parses XRANGE (a dict) or as a script returns them (flat list)."""
    if isinstance(raw, Mapping):
        return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in raw.items()}
    it = iter(raw)
    return {k if isinstance(k, bytes) else str(k).encode(): v for k, v in zip(it, it, strict=False)}


# with encrypt_names, what an event's key is: stored encrypted, under this name kind
_NAMED = {
    "value": "key",
    "thread": "thread",
    "cache": "cache",
    "recall": "recall",
    "fact": "subject",  # facts.SUBJECT (facts imports this module)
}


def decode_event(
    cfg: Config, log: LogName, stream_id: bytes | str, raw_fields: Any, *, values: bool
) -> Event:
    """One log entry as an Event. `values`: decode the logged value (when there is one)."""
    sid = _text(stream_id) or "0-0"
    f = _fields(raw_fields)
    target = _TARGETS.get(f.get(b"w", b"v"), "value")
    op = _text(f.get(b"o")) or "?"
    key = _text(f.get(b"k"))
    source = _text(f.get(b"f"))
    names = cfg.keyspace.names
    if names is not None and key is not None and target in _NAMED:
        key = names.unname(key, _NAMED[target])
        if source is not None and target == "thread":
            source = names.unname(source, "thread")
    value: Any = NOT_LOGGED
    if values and b"p" in f:
        value = _decode_value(cfg, log, target, key, _text(f.get(b"a")), f.get(b"y", b"m"), f[b"p"])
    ms = int(sid.partition("-")[0])
    return Event(
        id=f"{sid}.{log_key_digest(log.key)}",
        kind=log.kind,
        scope=log.name,
        target=target,
        op=op,
        key=key,
        at=ms / 1000,
        version=_text(f.get(b"v")),
        message_id=_text(f.get(b"m")),
        source=source,
        value=value,
        predicate=_text(f.get(b"a")),
    )


def _decode_value(
    cfg: Config,
    log: LogName,
    target: str,
    key: str | None,
    predicate: str | None,
    vtype: Any,
    payload: Any,
) -> Any:
    vtype = vtype if isinstance(vtype, bytes) else str(vtype).encode()
    payload = payload if isinstance(payload, bytes) else str(payload).encode()
    ref = log.ref
    if vtype == b"e" and ref is not None and key is not None:
        from .thread import Thread, decode_entries

        return decode_entries(Thread(cfg, ref, key), [payload])[0]
    if target == "recall" and ref is not None and key is not None:
        from .recall import event_item  # recall imports this module

        return event_item(cfg, ref, key, payload)
    # encrypted values are bound to where they live: the scope's, cache's or fact's place
    place: bytes | None = None
    parts: tuple[str, ...] = (key or "",)
    if ref is not None and target == "value":
        place = cfg.binding("v", ref.kind, ref.id)
    elif ref is not None and target == "fact":
        place, parts = cfg.binding("f", ref.kind, ref.id), (key or "", predicate or "")
    elif ref is None and target == "cache":
        place = cfg.binding("c", log.cache_name, log.cache_scope)
    return open_value(cfg.crypto, cfg.codec, place, vtype, payload, *parts, key=key, scope=log.name)


# an event id; ".x<digest>": an expire event a watcher made up (no log holds it)
_ID_RE = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?(?:\.x?[0-9a-f]+)?")
# the largest part (ms or seq) of a stream id: an unsigned 64-bit integer
_MAX_ID_PART = 2**64 - 1


def start_of(cursor: object, *, scope: str | None = None) -> tuple[int, int]:
    """(ms, seq) of a cursor: an event id, a stream id, a datetime (aware, or naive UTC) or
    a number of seconds since the epoch. A datetime or number starts at its first event.
    Anything else, a time before 1970, NaN, infinite or past the largest stream id, or an
    id part over 2**64 - 1 is refused with InvalidValueError (naming `scope`)."""
    given = cursor
    if isinstance(cursor, Event):
        cursor = cursor.id
    if isinstance(cursor, _dt.datetime):
        if cursor.tzinfo is None:
            cursor = cursor.replace(tzinfo=_dt.timezone.utc)
        cursor = cursor.timestamp()
    if isinstance(cursor, (int, float)) and not isinstance(cursor, bool):
        if not finite(cursor) or cursor < 0 or cursor * 1000 > _MAX_ID_PART:
            raise InvalidValueError(
                f"a cursor time is a finite time from 1970 on (seconds since the epoch), "
                f"got {shown(given)}",
                scope=scope,
            )
        return int(cursor * 1000), -1
    if isinstance(cursor, str):
        m = _ID_RE.fullmatch(cursor)
        if m:
            ms, seq = int(m.group(1)), int(m.group(2) or 0)
            if ms > _MAX_ID_PART or seq > _MAX_ID_PART:
                raise InvalidValueError(
                    f"an event id's parts are at most {_MAX_ID_PART}, got {given!r}", scope=scope
                )
            return ms, seq
    raise InvalidValueError(
        f"a cursor is an event id, a datetime or seconds since the epoch, not {given!r}",
        scope=scope,
    )


def after_id(position: tuple[int, int]) -> str:
    """The XRANGE start that reads the events after `position` (exclusive)."""
    ms, seq = position
    if seq < 0:
        return f"{ms}-0"
    if ms == seq == _MAX_ID_PART:  # the server refuses "(" with the last id; no event
        return f"{ms}-{seq}"  # holds that id (the server clock never reaches it)
    return f"({ms}-{seq}"


_GLOB_SPECIAL = re.compile(r"([\\\[\]?*])")


def _escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


@dataclass(frozen=True, slots=True)
class Matcher:
    """What one watcher wants: scopes (or caches) by a glob pattern, optionally keys (glob)
    and operations.

    `pattern` is "<kind>:<id glob>" (a scope kind, or "cache:<name glob>"), "<kind>"
    (every scope of that kind; "global" is the global scope) or "*" (everything of the
    tenant).
    """

    keyspace: Keyspace
    kind: str
    name: str
    keys: str | None = None
    ops: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        keyspace: Keyspace,
        pattern: object,
        *,
        keys: object = None,
        ops: Iterable[str] | None = None,
    ) -> Matcher:
        if not isinstance(pattern, str) or not pattern:
            raise InvalidValueError(f"a watch pattern is a non-empty string, not {pattern!r}")
        if "{" in pattern or "}" in pattern:
            raise InvalidValueError(f"a watch pattern cannot contain braces: {pattern!r}")
        if pattern == "*":
            kind, name = "*", "*"
        else:
            kind, sep, name = pattern.partition(":")
            if kind not in KINDS and kind != "cache":
                raise InvalidValueError(
                    f"a watch pattern starts with a scope kind or 'cache', got {pattern!r}"
                )
            if kind == "global":
                if sep and name not in ("", "*"):
                    raise InvalidValueError("the global scope has no id to match")
                name = ""
            elif not sep:
                name = "*"
            elif not name:
                raise InvalidValueError(f"empty id pattern in {pattern!r}")
        if keys is not None and (not isinstance(keys, str) or not keys):
            raise InvalidValueError(f"keys is a non-empty glob pattern, not {keys!r}")
        op_set: frozenset[str] | None = None
        if ops is not None:
            if isinstance(ops, str):
                ops = [ops]
            op_set = frozenset(ops)
            unknown = op_set - EVENT_OPS
            if unknown or not op_set:
                raise InvalidValueError(
                    f"unknown operations {sorted(unknown)}; expected some of {sorted(EVENT_OPS)}"
                )
        return cls(keyspace, kind, name, keys, op_set)

    def key_patterns(self) -> list[str]:
        """Glob patterns (Redis MATCH / PSUBSCRIBE syntax) over the log keys this matcher
        may want. The tenant and namespace are literal, so no pattern reaches another
        tenant's logs."""
        ks = self.keyspace
        head = f"{ks.namespace}:{{{ks.tenant or ''}:"
        if self.kind == "*":
            return [f"{_escape(head)}*}}:ev"]
        if self.kind == "cache":
            return [f"{_escape(head)}cache:{self.name}:*}}:ev"]
        name = self.name
        if ks.names is not None and name:  # ids are stored encrypted: one exact id, or all
            literal = not _GLOB_SPECIAL.search(name)
            name = _escape(ks.stored_id(ScopeRef(self.kind, name))) if literal else "*"
        return [f"{_escape(head)}{self.kind}:{name}}}:ev"]

    def wants_log(self, log: LogName) -> bool:
        """The exact test (globs over the parsed name), after the server's pattern match."""
        if log.tenant != self.keyspace.tenant:
            return False
        if self.kind == "*":
            return True
        if log.kind != self.kind:
            return False
        if self.kind == "cache":
            return fnmatch.fnmatchcase(log.cache_name, self.name)
        return fnmatch.fnmatchcase(log.name, self.name)

    def wants(self, event: Event) -> bool:
        if self.ops is not None and event.op not in self.ops:
            return False
        if self.keys is not None:
            return event.key is not None and fnmatch.fnmatchcase(event.key, self.keys)
        return True


def decode_entries_of(
    cfg: Config, log: LogName, entries: Sequence[Any], *, values: bool
) -> list[Event]:
    """XRANGE replies (id, fields) of one log as Events, oldest first."""
    return [decode_event(cfg, log, sid, raw, values=values) for sid, raw in entries]


#: the most events one `changes()` call returns
MAX_CHANGES = 1000


def events_read(
    cfg: Config,
    log: str,
    since: object,
    *,
    limit: object,
    values: object,
    scope: str | None = None,
) -> Call[list[Event]]:
    """The call (lua/events_read.lua) that replays the change log `log` of this Memory's
    keyspace: at most `limit` events (1 to MAX_CHANGES) after `since` (None: from the
    oldest; an event id, a stream id, a datetime or seconds since the epoch: see
    `start_of`), oldest first. `values`: decode the logged values. `scope` names the scope
    in errors."""
    from ._call import Call, script  # _call imports this module

    name = parse_log_key(cfg.keyspace, log)
    if name is None:
        raise InvalidValueError(f"not a change log of this keyspace: {log!r}", scope=scope)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_CHANGES:
        raise InvalidValueError(
            f"limit must be an integer from 1 to {MAX_CHANGES}, got {shown(limit)}", scope=scope
        )
    if not isinstance(values, bool):
        raise InvalidValueError(f"values is True or False, not {values!r}", scope=scope)
    start = "-" if since is None else after_id(start_of(since, scope=scope))

    def parse(reply: Any) -> list[Event]:
        return decode_entries_of(cfg, name, reply or (), values=values)

    return Call(script("events_read"), (log,), (start, limit), parse, None, scope)
