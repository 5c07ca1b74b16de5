"""Rotation (no I/O): `mem.reencrypt()` rewrites every stored value of a namespace and
tenant under the keyring's primary key, and encrypts the values stored before encryption
was turned on.

The shell SCANs every primary with `Keyspace.tenant_pattern()`, and `ReencryptPlan.job`
turns each key found into a job: a generator that yields what it needs sent (`Reads`,
plain commands; `Calls`, script calls) and is sent the replies, so that the shells only
do I/O, and run many jobs' steps in one round trip. A job reads its key's values, seals
again what is not under the primary key (opened under whichever key of the ring sealed it;
bound to the same place, so it reads back the same) and writes each back with a
compare-and-set (lua/reencrypt_*.lua): a value written meanwhile is the writer's, and a
writer with this keyring seals under the primary key already.

What each key holds:

- a scope's H, a cache bucket's h: "m:<key>" metas (type first) and "d:<key>" payloads; "s"
  payloads are sealed, "m" ones are codec bytes stored without encryption (sealed now, the
  meta's type becoming "s"); numbers ("i", "f") stay plain: `incr` needs them so;
- a thread's L: turn entries, whose body is a msgpack bin of the sealed body, or the codec
  bytes of a turn stored without encryption;
- a fact store's F: "d:<id>" objects (type char, payload), bound to their (plain) subject
  and predicate, which the versions naming the object (I's "v" members, F's "m:" fields)
  tell;
- a recall index's R: "i:<id>" items, whose vector is encrypted under the key and nonce of
  the record after it and whose text and meta (after the time and kind) are sealed, or
  both stored without encryption; a rewrite encrypts both again under the primary key and
  a new nonce, and gives the item a new version in the index, so that clients' caches of
  it read the item again;
- change logs: immutable, so only counted (the values they carry keep their key id until
  they expire).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack

from .._config import Config
from .._crypto import NONCE_BYTES, VECTOR_TAG_BYTES, Crypto, bind, key_id_of, vector_tag
from .._errors import ConfigurationError, DecryptionError, PyRedMemError, SerializationError
from .._keys import KINDS, ScopeRef
from ._call import Call, Target, script
from .cache import CacheTarget, parse_bucket_key
from .facts import FactStore
from .recall import recall_keys, split_item, vector_bytes_of
from .thread import Thread, _sealed_body, _split, thread_of

__all__ = [
    "SCAN_COUNT",
    "Calls",
    "Job",
    "Reads",
    "ReencryptPlan",
    "Reencrypted",
    "progress_line",
]

#: SCAN's COUNT (hash table slots one step visits), and HSCAN's
SCAN_COUNT = 1000
#: values or turns one compare-and-set call rewrites at most, and their bytes
MAX_ITEMS_PER_CALL = 256
MAX_BYTES_PER_CALL = 4 * 1024 * 1024
#: turns read at once, and the turns before them read too, to find the last one done
#: again when it moved to a lower index (trims, compaction) since the read before
TURNS_PER_READ = 256
LOOK_BACK = 64
#: how often a job finds its place again in a thread whose turns moved under it (trimmed,
#: compacted); what is left after that is counted as lost races (a run again finishes it)
MAX_MOVES = 64

_FIELDS = script("reencrypt_fields")
_TURNS = script("reencrypt_turns")
_RECALL = script("reencrypt_recall")
#: how a sealed turn body starts: a msgpack bin (see thread.py)
_SEALED_BIN = (b"\xc4", b"\xc5", b"\xc6")


@dataclass(frozen=True, slots=True)
class Reencrypted:
    """What `reencrypt` did. `keys`: Redis keys it read; `scanned`: the values (scope
    values, turns, cache entries, fact objects, recall items) it found encrypted or
    encryptable; of those, `rewritten` (now under the primary key), `current` (already
    were), `lost_races` (changed by a concurrent write between the read and the rewrite:
    the writer's value stands) and `failed` (could not be opened: tampered, or under a key
    id the keyring lacks).
    `values`, `turns`, `cache_entries`, `facts`, `recall_items`: the rewritten by kind
    (`recall_items`: items of recall indexes, their vector, text and meta); `migrated`: of the
    rewritten, those that were not encrypted before. `unmigrated_facts`: fact objects
    stored without encryption, left as they are (see `Memory.reencrypt`). `events`: change
    log entries seen (immutable: their values keep their key id until they expire)."""

    keys: int = 0
    scanned: int = 0
    rewritten: int = 0
    current: int = 0
    lost_races: int = 0
    failed: int = 0
    values: int = 0
    turns: int = 0
    cache_entries: int = 0
    facts: int = 0
    recall_items: int = 0
    migrated: int = 0
    unmigrated_facts: int = 0
    events: int = 0

    def __add__(self, other: object) -> Reencrypted:
        if not isinstance(other, Reencrypted):
            return NotImplemented
        return Reencrypted(*(a + b for a, b in zip(_astuple(self), _astuple(other), strict=True)))

    def counts(self) -> dict[str, int]:
        """The counts by name, in declaration order."""
        return dict(zip(_NAMES, _astuple(self), strict=True))


_NAMES = tuple(f.name for f in dataclasses.fields(Reencrypted))


def _astuple(r: Reencrypted) -> tuple[int, ...]:
    return tuple(getattr(r, name) for name in _NAMES)


@dataclass(frozen=True, slots=True)
class Reads:
    """Plain commands of one key each (`runner.pipelined`): a job is sent their replies."""

    commands: tuple[tuple[Any, ...], ...]


@dataclass(frozen=True, slots=True)
class Calls:
    """Script calls (`runner.run_all`): a job is sent their results."""

    calls: tuple[Call[Any], ...]


#: a job: yields Reads or Calls, is sent their replies, returns what it did
Job = Generator[Reads | Calls, list[Any], Reencrypted]


class _Tally:
    """A job's counts as it goes."""

    def __init__(self) -> None:
        self.n = dict.fromkeys(_NAMES, 0)

    def add(self, name: str, k: int = 1) -> None:
        self.n[name] += k

    def done(self) -> Reencrypted:
        return Reencrypted(**self.n)


def _text(raw: Any) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)


def _pairs(reply: Any) -> tuple[int, list[tuple[bytes, bytes]]]:
    """(cursor, [(field, value)]) of an HSCAN reply (redis-py may have made a dict of it)."""
    cursor, found = reply
    if isinstance(found, dict):
        return int(cursor), list(found.items())
    return int(cursor), list(zip(found[::2], found[1::2], strict=True))


def _chunks(items: Sequence[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """`items` in runs of at most MAX_ITEMS_PER_CALL and about MAX_BYTES_PER_CALL."""
    out: list[list[tuple[Any, ...]]] = []
    size = 0
    for item in items:
        weight = sum(len(x) for x in item if isinstance(x, bytes))
        if not out or len(out[-1]) >= MAX_ITEMS_PER_CALL or size + weight > MAX_BYTES_PER_CALL:
            out.append([])
            size = 0
        out[-1].append(item)
        size += weight
    return out


def _won(reply: Any) -> list[int]:
    return [int(x) for x in reply]


class ReencryptPlan:
    """What to rotate: every key of a Memory's namespace and tenant."""

    __slots__ = ("cfg", "crypto", "primary", "_caches")

    def __init__(self, cfg: Config) -> None:
        if cfg.crypto is None:
            raise ConfigurationError("reencrypt needs a Memory with an encryption_key")
        self.cfg = cfg
        self.crypto: Crypto = cfg.crypto
        self.primary = cfg.crypto.primary
        self._caches: dict[tuple[str, str], CacheTarget] = {}

    @property
    def pattern(self) -> str:
        """SCAN MATCH: every key of the namespace and tenant (each checked by `job`)."""
        return self.cfg.keyspace.tenant_pattern()

    def _plain(self, stored: str, what: str) -> str:
        """A name as the user gave it, from its stored form."""
        return self.cfg.keyspace.plain(stored, what)

    def job(self, key: str) -> Job | None:
        """The job that rotates `key`'s values, or None when it holds none. A key whose
        names do not parse or open (written by another keyring's names key) is one value
        counted failed."""
        try:
            return self._job(key)
        except PyRedMemError:
            return _failed()

    def _job(self, key: str) -> Job | None:
        ks = self.cfg.keyspace
        found = ks.scope_key(key)
        if found is not None:
            kind, stored, suffix = found
            if suffix == "h":
                target = Target(self.cfg, self._ref(kind, stored))
                return self._values(key, target.aad, "key", "values")
            if suffix == "f":
                return self._facts(FactStore(self.cfg, self._ref(kind, stored)))
            if suffix == "r":
                return self._recall(key, self._ref(kind, stored))
            sid = thread_of(suffix)
            if sid is not None:
                thread = self._plain(sid, "thread")
                return self._turns(Thread(self.cfg, self._ref(kind, stored), thread))
            return self._log(key) if suffix == "ev" else None
        bucket = parse_bucket_key(ks, key)
        if bucket is None:
            return None
        if bucket.suffix == "h":
            cache = self._cache(bucket.name, bucket.scope_label)
            return self._values(key, cache.aad, "cache", "cache_entries")
        return self._log(key) if bucket.suffix == "ev" else None

    def _ref(self, kind: str, stored: str) -> ScopeRef:
        if kind == "global":
            return ScopeRef.of("global")
        return ScopeRef.of(kind, self._plain(stored, kind))

    def _cache(self, name: str, label: str) -> CacheTarget:
        """A cache's target, for what its entries are bound to (its bucket count aside)."""
        target = self._caches.get((name, label))
        if target is None:
            ref = None
            if label:
                kind, _, stored = label.partition(":")
                if kind not in KINDS:
                    raise ConfigurationError(f"unknown scope {label!r} of cache {name!r}")
                ref = self._ref(kind, stored)
            target = CacheTarget(self.cfg, name, ttl=1, scope=ref, buckets=1)
            self._caches[(name, label)] = target
        return target

    # ------------------------------------------------------------------ jobs

    def _open(self, blob: bytes, aad: bytes, tally: _Tally, label: str) -> bytes | None:
        """The plaintext of `blob` (sealed) when it is not under the primary key; None when
        it is (counted current) or cannot be opened (counted failed)."""
        if key_id_of(blob) == self.primary:
            tally.add("current")
            return None
        try:
            return self.crypto.open(blob, aad, scope=label)
        except DecryptionError:
            tally.add("failed")
            return None

    def _values(self, key: str, aad: bytes | None, what: str, count: str) -> Job:
        """A scope's H or a cache bucket's h: HSCAN its metas, HMGET the payloads of the
        encrypted and encryptable ones, rewrite those not under the primary key. `what`:
        how its keys' names are encrypted; `count`: what a rewrite adds to."""
        assert aad is not None
        # sealed, and codec bytes; a cache's numbers too (a scope's may be incr counters,
        # which stay readable: the server adds to them)
        kinds = (b"s", b"m", b"i", b"f") if what == "cache" else (b"s", b"m")
        tally = _Tally()
        tally.add("keys")
        cursor = 0
        while True:
            (reply,) = yield Reads((("HSCAN", key, cursor, "MATCH", "m:*", "COUNT", SCAN_COUNT),))
            cursor, metas = _pairs(reply)
            wanted = [(f, m) for f, m in metas if m[:1] in kinds]
            items = []
            if wanted:
                (payloads,) = yield Reads((("HMGET", key, *(b"d:" + f[2:] for f, _ in wanted)),))
                for (mfield, meta), payload in zip(wanted, payloads, strict=True):
                    if payload is None:
                        continue  # deleted since
                    tally.add("scanned")
                    where = bind(aad, self._plain(_text(mfield[2:]), what))
                    if meta[:1] == b"s":
                        plain = self._open(payload, where, tally, key)
                        if plain is None:
                            continue
                    else:  # the value as sealed values hold it: its type, then its bytes
                        plain = meta[:1] + payload
                    new = self.crypto.seal(plain, where)
                    items.append((b"d:" + mfield[2:], payload, new, mfield, meta[:1]))
            for chunk in _chunks(items):
                args = tuple(x for item in chunk for x in item)
                (won,) = yield Calls((Call(_FIELDS, (key,), args, _won, None, key),))
                for item, ok in zip(chunk, won, strict=True):
                    if not ok:
                        tally.add("lost_races")
                        continue
                    tally.add("rewritten")
                    tally.add(count)
                    if item[4] != b"s":
                        tally.add("migrated")
            if cursor == 0:
                return tally.done()

    def _turns(self, t: Thread) -> Job:
        """A thread's L, read TURNS_PER_READ entries at a time. Appends go to the tail, but
        caps trim the head and compaction replaces it, moving entries to lower indexes: so
        each read starts LOOK_BACK entries before the next one to do, and goes on after the
        last entry done, wherever that is now (`_relocate` looks further back; gone, it was
        trimmed with all before it, and the read goes on from the head). The script finds
        an entry that moved between the read and the write up to LOOK_BACK places lower;
        when one is not found, the job reads again."""
        assert t.aad is not None
        l_key, i_key = t.keys[0], t.keys[1]
        state: dict[str, str] = {}  # message id -> current, pending, rewritten, failed
        migrated = 0
        start, last, moves = 0, b"", 0
        while True:
            low = max(start - 1 - LOOK_BACK, 0)
            (entries,) = yield Reads((("LRANGE", l_key, low, start + TURNS_PER_READ - 1),))
            if start > 0:  # go on after `last`, wherever it is now
                at = _rfind(entries, last, start - 1 - low)
                if at < 0 and low > 0:  # moved further than LOOK_BACK
                    moves += 1
                    if moves > MAX_MOVES:
                        break
                    start, last = yield from self._relocate(l_key, start, last)
                    continue
                start = low + at + 1  # 0 when it is gone: trimmed, so is all before it
                entries = entries[at + 1 :]
            items, notes = [], []
            for j, entry in enumerate(entries):
                new = self._turn(t, entry, state)
                if new is not None:
                    items.append((str(start + j).encode(), entry, new[0]))
                    notes.append(new[1:])
            missed = False
            k = 0
            for chunk in _chunks(items):
                args = (str(LOOK_BACK).encode(), *(x for item in chunk for x in item))
                call = Call(_TURNS, (l_key, i_key), args, _won, t.id, t.label)
                (won,) = yield Calls((call,))
                for ok in won:
                    if ok:
                        mid, was_plain = notes[k]
                        state[mid] = "rewritten"
                        migrated += was_plain
                    else:
                        missed = True
                    k += 1
            if missed:  # entries moved between the read and the write: read them again
                moves += 1
                if moves > MAX_MOVES:
                    break
                continue
            if len(entries) < TURNS_PER_READ:
                break
            # what the last entry is now: rewritten or not (the state of its id says)
            end = entries[-1]
            if items and items[-1][1] is end and state.get(notes[-1][0]) == "rewritten":
                end = items[-1][2]
            start, last = start + len(entries), end
        counts = Counter(state.values())
        return Reencrypted(
            keys=1,
            scanned=len(state),
            rewritten=counts["rewritten"],
            current=counts["current"],
            lost_races=counts["pending"],  # gone, or still moving after MAX_MOVES reads
            failed=counts["failed"],
            turns=counts["rewritten"],
            migrated=migrated,
        )

    def _relocate(
        self, l_key: str, start: int, last: bytes
    ) -> Generator[Reads | Calls, list[Any], tuple[int, bytes]]:
        """Where to go on after `last` (the entry read just before index `start`) moved:
        right after it, looked for among the entries before `start` (entries only move to
        lower indexes); from the head when it is gone (trimmed, so is all before it) or
        moved further than one read."""
        low = max(0, start - 1 - TURNS_PER_READ)
        (window,) = yield Reads((("LRANGE", l_key, low, start - 1),))
        for j in range(len(window) - 1, -1, -1):
            if window[j] == last:
                return low + j + 1, last
        return 0, b""

    def _turn(
        self, t: Thread, entry: bytes, state: dict[str, str]
    ) -> tuple[bytes, str, bool] | None:
        """(the entry sealed under the primary key, its message id, whether it was stored
        unencrypted), or None when it is under it already or cannot be opened; notes its
        state."""
        assert t.aad is not None
        try:
            _, _, mid, body = _split(t, entry, _same)
        except SerializationError:
            state[entry[:64].hex()] = "failed"
            return None
        head = entry[: len(entry) - len(body)]
        if body[:1] not in _SEALED_BIN:  # codec bytes, stored without encryption
            state.setdefault(mid, "pending")
            return head + _sealed_body(t, mid, body), mid, True
        try:
            blob = msgpack.unpackb(body)
        except Exception:
            blob = None
        if type(blob) is not bytes:
            state[mid] = "failed"
            return None
        if key_id_of(blob) == self.primary:
            state.setdefault(mid, "current")
            return None
        try:
            plain = self.crypto.open(blob, bind(t.aad, mid), key=t.id, scope=t.label)
        except DecryptionError:
            state[mid] = "failed"
            return None
        state.setdefault(mid, "pending")
        return head + _sealed_body(t, mid, plain), mid, False

    def _facts(self, store: FactStore) -> Job:
        """A fact store: which pair each object belongs to (from the versions that name it:
        I's "v" members and F's "m:" fields), then its "d:" objects, HSCANned."""
        assert store.aad is not None
        f_key, i_key = store.keys
        tally = _Tally()
        tally.add("keys")
        pairs: dict[bytes, tuple[str, str]] | None = None
        cursor = 0
        while True:
            reply = yield Reads((("HSCAN", f_key, cursor, "MATCH", "d:*", "COUNT", SCAN_COUNT),))
            cursor, objects = _pairs(reply[0])
            items = []
            for field, data in objects:
                if data[:1] != b"s":
                    tally.add("unmigrated_facts")
                    continue
                tally.add("scanned")
                if key_id_of(data[1:]) == self.primary:
                    tally.add("current")
                    continue
                if pairs is None or field[2:] not in pairs:
                    pairs = yield from self._fact_pairs(f_key, i_key)
                pair = pairs.get(field[2:])
                if pair is None:  # no version names it (yet): a write is under way
                    tally.add("lost_races")
                    continue
                try:  # bound to the plain subject
                    where = bind(store.aad, store.plain(pair[0]), pair[1])
                except DecryptionError:  # a subject this keyring's names key did not encrypt
                    tally.add("failed")
                    continue
                plain = self._open(data[1:], where, tally, store.label)
                if plain is not None:
                    items.append((field, data, b"s" + self.crypto.seal(plain, where), b"", b""))
            for chunk in _chunks(items):
                args = tuple(x for item in chunk for x in item)
                (won,) = yield Calls((Call(_FIELDS, (f_key,), args, _won, None, store.label),))
                for ok in won:
                    if ok:
                        tally.add("rewritten")
                        tally.add("facts")
                    else:
                        tally.add("lost_races")
            if cursor == 0:
                return tally.done()

    def _fact_pairs(
        self, f_key: str, i_key: str
    ) -> Generator[Reads | Calls, list[Any], dict[bytes, tuple[str, str]]]:
        """object id -> (subject as stored, predicate), from every version (see
        lua/_prelude.lua's facts layout: a version's text is "<vf>\\0<id> <vt> <did> ...")."""
        out: dict[bytes, tuple[str, str]] = {}
        offset = 0
        while True:
            (members,) = yield Reads(
                (("ZRANGEBYLEX", i_key, b"[v\0", b"(v\x01", "LIMIT", offset, SCAN_COUNT),)
            )
            for m in members:
                parts = m.split(b"\0")
                if len(parts) == 5:
                    out[parts[4].split(b" ")[2]] = (_text(parts[1]), _text(parts[2]))
            if len(members) < SCAN_COUNT:
                break
            offset += len(members)
        cursor = 0
        while True:
            (reply,) = yield Reads((("HSCAN", f_key, cursor, "MATCH", "m:*", "COUNT", SCAN_COUNT),))
            cursor, fields = _pairs(reply)
            for field, value in fields:
                names, text = field[2:].split(b"\0"), value.split(b"\0")
                if len(names) == 3 and len(text) == 2:
                    out[text[1].split(b" ")[2]] = (_text(names[0]), _text(names[1]))
            if cursor == 0:
                return out

    def _recall(self, r_key: str, ref: ScopeRef) -> Job:
        """A recall index's R: its vector length from the embedder signature ("m"), then
        its "i:" items, HSCANned; each rewrite a compare-and-set that gives the item a new
        version in the index (lua/reencrypt_recall.lua)."""
        aad = self.cfg.binding("r", ref.kind, ref.id)
        assert aad is not None
        label = str(ref)
        c_key = recall_keys(self.cfg.keyspace.prefix(ref))[2]
        tally = _Tally()
        tally.add("keys")
        (sig,) = yield Reads((("HGET", r_key, "m"),))
        vbytes = None if sig is None else vector_bytes_of(sig)
        if vbytes is None:  # emptied since the SCAN
            return tally.done()
        cursor = 0
        while True:
            (reply,) = yield Reads((("HSCAN", r_key, cursor, "MATCH", "i:*", "COUNT", SCAN_COUNT),))
            cursor, found = _pairs(reply)
            items = []
            for field, value in found:
                tally.add("scanned")
                parts = split_item(value, vbytes)
                try:
                    where = bind(aad, self._plain(_text(field[2:]), "recall"))
                except DecryptionError:
                    parts = None  # an id this keyring's names key did not encrypt
                if parts is None:
                    tally.add("failed")
                    continue
                head, sealed = parts
                was_plain = key_id_of(sealed) is None
                vector = value[:vbytes]
                if was_plain:  # codec bytes and a plain vector, stored without encryption
                    plain = sealed if sealed[:1] == b"m" else None
                    if plain is None:
                        tally.add("failed")
                        continue
                else:
                    plain = self._open(sealed, where, tally, label)
                    if plain is None:
                        continue
                    opened = self._vector(sealed, plain, vector)
                    if opened is None:
                        tally.add("failed")
                        continue
                    plain, vector = plain[VECTOR_TAG_BYTES:], opened
                new = self._item(head[vbytes:], plain, vector, where)
                items.append((field[2:], value, new, was_plain))
            for chunk in _chunks(items):
                args = tuple(x for item in chunk for x in item[:3])
                call = Call(_RECALL, (r_key, c_key), args, _won, None, label)
                (won,) = yield Calls((call,))
                for item, ok in zip(chunk, won, strict=True):
                    if not ok:
                        tally.add("lost_races")
                        continue
                    tally.add("rewritten")
                    tally.add("recall_items")
                    if item[3]:
                        tally.add("migrated")
            if cursor == 0:
                return tally.done()

    def _vector(self, sealed: bytes, plain: bytes, vector: bytes) -> bytes | None:
        """A recall item's vector decrypted, with the key and nonce of its sealed record
        (`plain` that record opened); None when the record's tag refuses it (altered or
        moved)."""
        if plain[:VECTOR_TAG_BYTES] != vector_tag(vector):
            return None
        start = 2 + sealed[1]
        nonce = sealed[start : start + NONCE_BYTES]
        out = self.crypto.xor_vectors([sealed[:start]], [nonce], [vector])
        return None if out is None else out[0]

    def _item(self, head: bytes, plain: bytes, vector: bytes, where: bytes) -> bytes:
        """A recall item's field under the primary key: its plain `vector` encrypted and its
        text and meta `plain` sealed after its tag, under one new nonce, `head` the time and
        kind between them (see `recall._seal_items`)."""
        nonce = os.urandom(NONCE_BYTES)
        out = self.crypto.xor_vectors([self.crypto.head], [nonce], [vector])
        assert out is not None  # the primary key is in the keyring
        sealed = self.crypto.seal_nonce(vector_tag(out[0]) + plain, where, nonce)
        return out[0] + head + sealed

    def _log(self, key: str) -> Job:
        (n,) = yield Reads((("XLEN", key),))
        return Reencrypted(keys=1, events=int(n))


def progress_line(r: Reencrypted, total: int, *, width: int = 24) -> str:
    """One line of progress: a bar of the keys done out of `total`, and the counts."""
    filled = width if total <= 0 else min(width, width * r.keys // total)
    return (
        f"reencrypt [{'#' * filled}{'.' * (width - filled)}] {r.keys:,}/{total:,} keys, "
        f"{r.scanned:,} values: {r.rewritten:,} rewritten, {r.current:,} current, "
        f"{r.lost_races:,} lost races, {r.failed:,} failed"
    )


def _failed() -> Job:
    yield from ()
    return Reencrypted(keys=1, scanned=1, failed=1)


def _rfind(entries: list[bytes], entry: bytes, at: int) -> int:
    """The index of `entry` in `entries`, looking from `at` down (-1: not there)."""
    for j in range(min(at, len(entries) - 1), -1, -1):
        if entries[j] == entry:
            return j
    return -1


def _same(data: bytes) -> bytes:
    return data
