"""Facts (no I/O): a bi-temporal store of (subject, predicate, object) claims per scope, one
function per `lua/facts_*.lua` script.

A *version* is one claim as recorded: valid over the world times [valid_from, valid_to)
and believed over the recording times [recorded_from, recorded_to). Recording times are
the server's clock, strictly increasing per subject and predicate. A write never changes
what was recorded before: it supersedes the versions it contradicts (their recorded_to
becomes now) and records again, as versions of their own, the parts of them it leaves
standing. So a query "valid at `as_of`, as believed at `known_at`" reads the versions
recorded by `known_at` and not superseded by then, and answers what was believed then,
whatever came later.

A scope's facts live in two keys under its hash tag (the layout is in lua/_prelude.lua):

    <ns>:{<tenant>:<kind>:<id>}:f    hash  claims' objects, superseded versions, pair heads
    <ns>:{<tenant>:<kind>:<id>}:fi   zset  (lex) believed versions by pair and start, each
                                           subject's predicates, (predicate, object) ->
                                           subjects

World times travel as integer microseconds since the epoch plus 2^52 (`OFFSET`), so that
every one is positive and below 2^53, exact in a Lua number: times before 1828 or after 2112
are refused. `OPEN` (2^53) is an open end.

With `encrypt_names`, subjects are stored as their deterministic encryption (name kind
`SUBJECT`; `FactStore.stored`) in every hash field, index member and change event, and
given back plain (`FactStore.plain`); the client checks the plain subject. Predicates stay
as given (schema names); objects are sealed values, bound to the plain subject and
predicate.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._codec import encode_value
from .._config import Config, positive_int
from .._crypto import open_value, seal_value
from .._errors import InvalidKeyError, InvalidValueError, shown
from .._keys import ScopeRef, key_slot
from .._scripts import Script
from ._call import Arg, Call, script
from .events import event_args, log_key

__all__ = [
    "DEFAULT_MAX_FACTS",
    "DEFAULT_MAX_VERSIONS",
    "Fact",
    "FactStore",
    "Find",
    "Group",
    "facts_about",
    "facts_add",
    "facts_clear",
    "facts_correct",
    "facts_find",
    "facts_get",
    "facts_history",
    "facts_retract",
    "facts_subjects",
    "plan_groups",
]

OFFSET = 2**52
OPEN = 2**53
#: subject and predicate names: UTF-8 bytes, at most
MAX_NAME_BYTES = 512
MAX_SOURCE_BYTES = 1024
#: versions one (subject, predicate) may hold, and one scope, by default
DEFAULT_MAX_VERSIONS = 1_000
DEFAULT_MAX_FACTS = 100_000
MAX_VERSIONS_LIMIT = 100_000
MAX_FACTS_LIMIT = 10_000_000
#: subjects one `subjects` call returns at most
MAX_SUBJECTS_LIMIT = 1_000
#: the name kind subjects are encrypted under with `encrypt_names`
SUBJECT = "subject"

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CARDINALITY = {None: "", "one": "1", "many": "n"}

_ADD = script("facts_add")
_CORRECT = script("facts_correct")
_GET = script("facts_get")
_ABOUT = script("facts_about")
_FIND = script("facts_find")
_SUBJECTS = script("facts_subjects")


@dataclass(frozen=True, slots=True)
class Fact:
    """One version of a claim: `subject` `predicate` `object`, true over the world times
    [`valid_from`, `valid_to`) (None: open-ended), believed from `recorded_from` (the
    server's clock when it was recorded) until `recorded_to` (None: still believed).
    `source` and `confidence` are what the claim was recorded with; `id` orders the
    versions of a scope by recording. Times are aware UTC datetimes."""

    subject: str
    predicate: str
    object: Any
    valid_from: _dt.datetime
    valid_to: _dt.datetime | None
    recorded_from: _dt.datetime
    recorded_to: _dt.datetime | None = None
    source: str | None = None
    confidence: float | None = None
    id: int = 0


class FactStore:
    """A scope instance's facts, resolved once: keys, caps, time to live, label."""

    __slots__ = (
        "aad",
        "cfg",
        "events_args",
        "keys",
        "label",
        "max_facts",
        "max_versions",
        "ref",
        "ttl_ms",
        "write_keys",
    )

    def __init__(
        self,
        cfg: Config,
        ref: ScopeRef,
        *,
        ttl: float | None = None,
        max_versions: int = DEFAULT_MAX_VERSIONS,
        max_facts: int = DEFAULT_MAX_FACTS,
    ) -> None:
        self.cfg = cfg
        self.ref = ref
        self.label = str(ref)
        p = cfg.keyspace.prefix(ref)
        self.keys = (f"{p}:f", f"{p}:fi")
        #: with encryption, what its objects are bound to (their subject and predicate added)
        self.aad = cfg.binding("f", ref.kind, ref.id)
        self.write_keys: tuple[str, ...] = self.keys
        self.events_args: tuple[str, ...] = ()
        if cfg.events:
            self.write_keys = (*self.keys, log_key(p))
            self.events_args = event_args(cfg)
        self.ttl_ms = cfg.ttl_ms(ttl, scope=self.label)
        self.max_versions = positive_int(
            "max_versions", max_versions, most=MAX_VERSIONS_LIMIT, scope=self.label
        )
        self.max_facts = positive_int(
            "max_facts", max_facts, most=MAX_FACTS_LIMIT, scope=self.label
        )

    def stored(self, subject: str) -> str:
        """How a subject is stored: itself, or with `encrypt_names` its encryption."""
        return self.cfg.keyspace.stored(subject, SUBJECT)

    def plain(self, stored: str) -> str:
        """The subject a stored one stands for (DecryptionError when it is not one)."""
        return self.cfg.keyspace.plain(stored, SUBJECT)


# ---------------------------------------------------------------------------- input


def _name(what: str, value: object, label: str) -> str:
    """A subject or predicate: 1 to 512 UTF-8 bytes, no control characters."""
    if type(value) is not str:
        raise InvalidKeyError(f"{what}s are strings, not {type(value).__name__}", scope=label)
    if not value:
        raise InvalidKeyError(f"{what}s cannot be empty", scope=label)
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidKeyError(f"{what} is not valid UTF-8 text", scope=label) from exc
    if size > MAX_NAME_BYTES:
        raise InvalidKeyError(
            f"{what}s are at most {MAX_NAME_BYTES} bytes", key=value[:64], scope=label
        )
    if _CONTROL.search(value):
        raise InvalidKeyError(f"{what}s cannot contain control characters", key=value, scope=label)
    return value


def to_us(value: object, what: str, label: str | None = None) -> int:
    """A time (an aware datetime, a naive one taken as UTC, a date: its midnight UTC, or
    seconds since the epoch) as whole microseconds since the epoch."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        us = (value - _EPOCH) // _US
    elif isinstance(value, _dt.date):
        us = (_dt.datetime.combine(value, _dt.time(), _dt.timezone.utc) - _EPOCH) // _US
    elif isinstance(value, int) and not isinstance(value, bool):
        us = value * 1_000_000
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError(f"{what} must be finite, got {shown(value)}", scope=label)
        us = round(value * 1_000_000)
    else:
        raise InvalidValueError(
            f"{what} is a datetime, a date or seconds since the epoch, not {type(value).__name__}",
            scope=label,
        )
    if not -OFFSET < us < OFFSET:
        raise InvalidValueError(f"{what} must fall between the years 1828 and 2112", scope=label)
    return us


def _world(value: object, what: str, label: str) -> str:
    """A world time argument ("": the server's now)."""
    return "" if value is None else str(to_us(value, what, label) + OFFSET)


def _known(value: object, label: str) -> str:
    """A recording time argument ("": now)."""
    return "" if value is None else str(to_us(value, "known_at", label))


def _source(value: object, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        raise InvalidValueError(f"source is a non-empty string or None, not {value!r}", scope=label)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        raise InvalidValueError(f"source is at most {MAX_SOURCE_BYTES} bytes", scope=label)
    return value


def _confidence(value: object, label: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(
            f"confidence is a number from 0 to 1 or None, not {type(value).__name__}", scope=label
        )
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise InvalidValueError(f"confidence must be from 0 to 1, got {shown(value)}", scope=label)
    return repr(float(value))


def _cardinality(value: object, label: str) -> str:
    if value not in _CARDINALITY:
        raise InvalidValueError(
            f"cardinality is 'one' or 'many' (or None: the pair's), not {value!r}", scope=label
        )
    return _CARDINALITY[value]


def _object(store: FactStore, value: Any) -> tuple[str, bytes, str]:
    """(type, payload, digest) of an object (the payload as the codec makes it)."""
    vtype, payload = encode_value(store.cfg.codec, value, scope=store.label)
    if len(payload) > store.cfg.max_value_bytes:
        raise InvalidValueError(
            f"the encoded object is {len(payload)} bytes; the cap is {store.cfg.max_value_bytes}",
            scope=store.label,
        )
    crypto = store.cfg.crypto
    if crypto is not None:  # keyed, so that no dictionary of guesses reverses it
        return vtype, payload, crypto.digest(vtype.encode() + payload)
    return vtype, payload, _digest(vtype, payload)


def _digest(vtype: str, payload: bytes) -> str:
    return hashlib.blake2b(vtype.encode() + payload, digest_size=16).hexdigest()


# ---------------------------------------------------------------------------- output


def _time(us: int) -> _dt.datetime:
    return _EPOCH + _dt.timedelta(microseconds=us)


def _world_time(n: int | bytes) -> _dt.datetime | None:
    """A world time from a script (None: open)."""
    n = int(n)
    return None if n >= OPEN else _time(n - OFFSET)


def _world_start(n: int | bytes) -> _dt.datetime:
    """A world time from a script that is a start (never open)."""
    return _time(int(n) - OFFSET)


def _decode(store: FactStore, data: bytes, subject: str, predicate: str) -> Any:
    """A stored object (its type tag, then its payload), opened when sealed."""
    cfg = store.cfg
    vtype, payload = data[:1], data[1:]
    parts = (subject, predicate)
    return open_value(
        cfg.crypto, cfg.codec, store.aad, vtype, payload, *parts, key=subject, scope=store.label
    )


# ---------------------------------------------------------------------------- writes


def _claim(
    store: FactStore,
    script_: Script,
    subject: object,
    predicate: object,
    obj: Any,
    valid_from: object,
    valid_to: object,
    source: object,
    confidence: object,
    cardinality: str,
    replacing: str,
) -> Call[Fact]:
    label = store.label
    s = _name("subject", subject, label)
    p = _name("predicate", predicate, label)
    vf = _world(valid_from, "valid_from", label)
    vt = _world(valid_to, "valid_to", label)
    if vf and vt and int(vt) <= int(vf):
        raise InvalidValueError("valid_to must be after valid_from", key=s, scope=label)
    src = _source(source, label)
    conf = _confidence(confidence, label)
    vtype, payload, od = _object(store, obj)
    vtype, payload = seal_value(store.cfg.crypto, store.aad, vtype, payload, s, p)
    args: tuple[Arg, ...] = (
        store.stored(s),
        p,
        vf,
        vt,
        cardinality,
        replacing,
        od,
        vtype,
        payload,
        src,
        conf,
        store.ttl_ms,
        store.max_versions,
        store.max_facts,
        *store.events_args,
    )

    def parse(reply: list[Any]) -> Fact:
        rf = int(reply[3])
        recorded = _time(rf)
        start = int(reply[1]) - OFFSET  # by default the recording time: one datetime for both
        return Fact(
            s,
            p,
            obj,
            recorded if start == rf else _time(start),
            _world_time(reply[2]),
            recorded,
            None,
            src or None,
            float(conf) if conf else None,
            int(reply[0]),
        )

    return Call(script_, store.write_keys, args, parse, s, label)


def facts_add(
    store: FactStore,
    subject: object,
    predicate: object,
    obj: Any,
    *,
    valid_from: object = None,
    valid_to: object = None,
    source: object = None,
    confidence: object = None,
    cardinality: object = None,
) -> Call[Fact]:
    card = _cardinality(cardinality, store.label)
    return _claim(
        store, _ADD, subject, predicate, obj, valid_from, valid_to, source, confidence, card, ""
    )


def facts_correct(
    store: FactStore,
    subject: object,
    predicate: object,
    obj: Any,
    *,
    valid_from: object = None,
    valid_to: object = None,
    replacing: Any = None,
    source: object = None,
    confidence: object = None,
) -> Call[Fact]:
    rd = "" if replacing is None else _object(store, replacing)[2]
    return _claim(
        store, _CORRECT, subject, predicate, obj, valid_from, valid_to, source, confidence, "", rd
    )


def facts_retract(
    store: FactStore, subject: object, predicate: object, obj: Any = None, *, at: object = None
) -> Call[int]:
    label = store.label
    s = _name("subject", subject, label)
    p = _name("predicate", predicate, label)
    when = _world(at, "at", label)
    od = "" if obj is None else _object(store, obj)[2]
    args: tuple[Arg, ...] = (
        store.stored(s),
        p,
        when,
        od,
        store.ttl_ms,
        store.max_versions,
        store.max_facts,
        *store.events_args,
    )

    def parse(reply: list[Any]) -> int:
        return int(reply[0])

    return Call(script("facts_retract"), store.write_keys, args, parse, s, label)


def facts_clear(store: FactStore) -> Call[int]:
    return Call(script("facts_clear"), store.write_keys, store.events_args, int, None, store.label)


# ---------------------------------------------------------------------------- reads


def facts_history(store: FactStore, subject: object, predicate: object) -> Call[list[Fact]]:
    label = store.label
    s = _name("subject", subject, label)
    p = _name("predicate", predicate, label)

    def parse(reply: list[Any]) -> list[Fact]:
        versions, data = reply
        claims: dict[bytes, tuple[Any, str | None, float | None]] = {}
        for i in range(0, len(data), 4):
            did, obj, src, conf = data[i : i + 4]
            claims[did] = (
                _decode(store, obj, s, p) if obj else None,
                src.decode() if src else None,
                float(conf) if conf else None,
            )
        out = []
        for i in range(0, len(versions), 6):
            vid, vf, vt, rf, rt, did = versions[i : i + 6]
            obj, src, conf = claims.get(did, (None, None, None))
            out.append(
                Fact(
                    s,
                    p,
                    obj,
                    _world_start(vf),
                    _world_time(vt),
                    _time(int(rf)),
                    _time(int(rt)) if rt else None,
                    src,
                    conf,
                    int(vid),
                )
            )
        return out

    return Call(script("facts_history"), store.keys, (store.stored(s), p), parse, s, label)


@dataclass(frozen=True, slots=True)
class Group:
    """Stores read by one script call: their precedences, keys (F, I of each) and label."""

    indexes: tuple[int, ...]
    keys: tuple[str, ...]
    label: str


def plan_groups(stores: Sequence[FactStore], per_slot: bool) -> tuple[Group, ...]:
    """Group `stores` (most specific first) into read calls: all in one, or with `per_slot`
    one per cluster slot, each keeping the precedence order."""
    slots: dict[int, list[int]] = {}
    for i, st in enumerate(stores):
        slots.setdefault(key_slot(st.keys[0]) if per_slot else 0, []).append(i)
    return tuple(
        Group(
            tuple(idx),
            tuple(k for i in idx for k in stores[i].keys),
            ",".join(stores[i].label for i in idx),
        )
        for idx in slots.values()
    )


Answer = Callable[[list[Any]], Any]


def facts_get(
    stores: Sequence[FactStore],
    groups: Sequence[Group],
    subject: object,
    predicate: object,
    default: Any,
    *,
    as_of: object,
    known_at: object,
) -> tuple[list[Call[Any]], Answer]:
    """The calls of `get`, and what makes their replies (one per call) the answer: the
    object valid (a list of them for a many-valued pair), from the most specific store that
    has any, else `default`."""
    label = groups[0].label
    s = _name("subject", subject, label)
    p = _name("predicate", predicate, label)
    args = (stores[0].stored(s), p, _world(as_of, "as_of", label), _known(known_at, label))

    def parser(g: Group) -> Callable[[Any], tuple[int, Any] | None]:
        def parse(reply: Any) -> tuple[int, Any] | None:
            if reply is None:
                return None
            i = g.indexes[int(reply[0]) - 1]
            objects = [_decode(stores[i], d, s, p) for d in reply[2:]]
            return i, objects[0] if reply[1] == b"1" else objects

        return parse

    calls: list[Call[Any]] = [Call(_GET, g.keys, args, parser(g), s, g.label) for g in groups]

    def answer(hits: list[tuple[int, Any] | None]) -> Any:
        best = min((h for h in hits if h is not None), default=None, key=lambda h: h[0])
        return default if best is None else best[1]

    return calls, answer


def facts_about(
    stores: Sequence[FactStore],
    groups: Sequence[Group],
    subject: object,
    *,
    as_of: object,
    known_at: object,
) -> tuple[list[Call[Any]], Answer]:
    """The calls of `about`, and what makes their replies the answer: predicate -> object
    (a list for a many-valued pair), each from the most specific store that has any."""
    label = groups[0].label
    s = _name("subject", subject, label)
    args = (stores[0].stored(s), _world(as_of, "as_of", label), _known(known_at, label))

    def parser(g: Group) -> Callable[[Any], list[tuple[int, str, Any]]]:
        def parse(reply: list[Any]) -> list[tuple[int, str, Any]]:
            out = []
            n = 0
            while n < len(reply):
                j, p, card, count = reply[n : n + 4]
                i = g.indexes[int(j) - 1]
                pred = p.decode()
                found = reply[n + 4 : n + 4 + int(count)]
                objects = [_decode(stores[i], d, s, pred) for d in found]
                out.append((i, pred, objects[0] if card == b"1" else objects))
                n += 4 + int(count)
            return out

        return parse

    calls: list[Call[Any]] = [Call(_ABOUT, g.keys, args, parser(g), s, g.label) for g in groups]

    def answer(parts: list[list[tuple[int, str, Any]]]) -> dict[str, Any]:
        best: dict[str, tuple[int, Any]] = {}
        for part in parts:
            for i, p, value in part:
                if p not in best or i < best[p][0]:
                    best[p] = (i, value)
        return {p: best[p][1] for p in sorted(best)}

    return calls, answer


class Find:
    """A `find`: the calls of its first round (one per group) and, on a cluster where
    stores of other slots are more specific than the one a subject was found in, the
    checks that tell whether one of them shadows it. Subjects are kept as stored until
    `subjects` gives them back plain."""

    __slots__ = ("args", "groups", "label", "predicate", "stores")

    def __init__(
        self,
        stores: Sequence[FactStore],
        groups: Sequence[Group],
        predicate: object,
        obj: Any,
        *,
        as_of: object,
        known_at: object,
    ) -> None:
        self.stores = stores
        self.groups = groups
        self.label = groups[0].label
        self.predicate = _name("predicate", predicate, self.label)
        od = _object(stores[0], obj)[2]
        self.args = (
            self.predicate,
            od,
            _world(as_of, "as_of", self.label),
            _known(known_at, self.label),
        )

    def _parser(self, g: Group) -> Callable[[Any], list[tuple[int, str]]]:
        def parse(reply: list[Any]) -> list[tuple[int, str]]:
            return [
                (g.indexes[int(reply[n]) - 1], reply[n + 1].decode())
                for n in range(0, len(reply), 2)
            ]

        return parse

    def calls(self) -> list[Call[list[tuple[int, str]]]]:
        return [
            Call(_FIND, g.keys, self.args, self._parser(g), self.predicate, g.label)
            for g in self.groups
        ]

    def found(self, parts: list[list[tuple[int, str]]]) -> dict[str, int]:
        """subject (as stored) -> the most specific store it was found in."""
        best: dict[str, int] = {}
        for part in parts:
            for i, s in part:
                if s not in best or i < best[s]:
                    best[s] = i
        return best

    def checks(self, found: dict[str, int]) -> list[Call[list[tuple[int, str]]]]:
        """The calls that look for the subjects found in the stores of other groups that
        are more specific than where each was found (none on a single server)."""
        calls = []
        for g in self.groups:
            ask = sorted(s for s, i in found.items() if i not in g.indexes and g.indexes[0] < i)
            if ask:
                args = (*self.args[:1], "", *self.args[2:], *ask)
                calls.append(Call(_FIND, g.keys, args, self._parser(g), self.predicate, g.label))
        return calls

    def subjects(self, found: dict[str, int], checked: list[list[tuple[int, str]]]) -> list[str]:
        """The subjects found and not shadowed by a more specific store, plain, sorted."""
        shadowed = {s for part in checked for i, s in part if s in found and i < found[s]}
        plain = self.stores[0].plain
        return sorted(plain(s) for s in found if s not in shadowed)


def facts_find(
    stores: Sequence[FactStore],
    groups: Sequence[Group],
    predicate: object,
    obj: Any,
    *,
    as_of: object,
    known_at: object,
) -> Find:
    """The rounds of a `find` (see Find)."""
    return Find(stores, groups, predicate, obj, as_of=as_of, known_at=known_at)


def facts_subjects(
    stores: Sequence[FactStore], groups: Sequence[Group], *, limit: object, after: object
) -> tuple[list[Call[list[list[str]]]], Answer]:
    """The calls of `subjects` (one per group: a page of each of its stores), and what makes
    their replies the answer: the first `limit` subjects of any store after `after`, in the
    order of their stored text (the ciphertexts' with `encrypt_names`), each once, plain."""
    label = groups[0].label
    n = positive_int("limit", limit, most=MAX_SUBJECTS_LIMIT, scope=label)
    start = "" if after is None else stores[0].stored(_name("subject", after, label))

    def parse(reply: list[list[bytes]]) -> list[list[str]]:
        return [[s.decode() for s in page] for page in reply]

    calls = [
        Call(
            _SUBJECTS, tuple(stores[i].keys[1] for i in g.indexes), (n, start), parse, None, g.label
        )
        for g in groups
    ]

    def answer(replies: list[list[list[str]]]) -> list[str]:
        # code point order is UTF-8 byte order: the order the index keeps them in
        found = {s for pages in replies for page in pages for s in page}
        plain = stores[0].plain
        return [plain(s) for s in sorted(found)[:n]]

    return calls, answer
