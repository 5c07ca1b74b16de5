"""Recall (no I/O): a scope's semantic index, one function per `lua/recall_*.lua` script,
and the client cache that search scores against.

The server stores each item's vector (compact: see `_embed`), its record (kind, then the
sealed text and meta) and expiry, under the scope's hash tag (the layout is in
lua/recall_add.lua); it never scores vectors, which would hold its single thread (about
20-26 ms per 1,000 vectors of 384 dimensions on Redis 7). A search asks `recall_sync` what
changed since the version its cache holds: when nothing did, one small reply; otherwise the
items written since (all of them the first time), in pages bounded in count and bytes.
Scoring runs on the client, with numpy when it is installed.

Text and meta go through `_seal_items` / `_open_item`, the one place where they are
encoded and decoded (encryption at rest plugs in there). When the Memory encrypts, so are
vectors: each XOR an AES-256-CTR keystream whose IV is its record's nonce (see
`_crypto.Crypto.xor_vectors`; same length, so no offset changes), and the sealed record
starts with a tag of the stored vector (`_crypto.vector_tag`): a vector altered or moved
fails when its item is opened (a hit, a get). A search cache decrypts vectors to score
them without opening records, so such a vector can change a ranking, never a result.

With `encrypt_names`, item ids are stored as their encryption (`RecallStore.stored`: what
KEYS, fields and members hold, and what a client cache keys its rows by) and given back
plain (`RecallStore.plain`). With change events, the writes log to the scope's change log
(target "r": see events.py).
"""

from __future__ import annotations

import math
import operator
import os
import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import _embed
from .._codec import decode_value, encode_value
from .._config import MAX_CALL_BYTES, Config, finite, positive_int, ttl_to_ms
from .._crypto import NONCE_BYTES, TAG_BYTES, VECTOR_TAG_BYTES, Crypto, bind, key_id_of, vector_tag
from .._errors import ConfigurationError, DecryptionError, InvalidKeyError, InvalidValueError
from .._keys import ScopeRef, validate_key
from ._call import Arg, Call, script
from .events import event_args, log_key
from .message import Message

__all__ = [
    "BACKENDS",
    "DEFAULT_MAX_ITEMS",
    "Hit",
    "RecallCache",
    "RecallInfo",
    "RecallItem",
    "RecallStore",
    "cache_of",
    "event_item",
    "rank",
    "recall_add",
    "recall_check",
    "recall_clear",
    "recall_delete",
    "recall_get",
    "recall_info",
    "recall_keys",
    "recall_sync",
    "recall_touch",
    "split_item",
    "vector_bytes_of",
]

BACKENDS = ("auto", "exact", "vset")
DEFAULT_MAX_ITEMS = 100_000
MAX_ITEMS_LIMIT = 1_000_000
MAX_KIND_BYTES = 64
#: a page of recall_sync: at most this many items, and about this many bytes
PAGE_ITEMS = 20_000
PAGE_BYTES = 8 * 1024 * 1024
#: pages one search reads before it scores what it has (a writer faster than paging)
MAX_PAGES = 1_000
#: client caches: scopes kept per Memory, and rows (items) over all of them
CACHE_SCOPES = 64
CACHE_ROWS = 300_000

_DEFAULT_EMBEDDER = _embed.HashingEmbedder()


def check_backend(backend: object) -> str:
    """A `recall_backend` option. "auto" is "exact" on every engine this version supports:
    Redis 7, Valkey 8 and the embedded store have no vector sets."""
    if backend not in BACKENDS:
        raise ConfigurationError(f"recall_backend is one of {BACKENDS}, not {backend!r}")
    if backend == "vset":
        raise ConfigurationError(
            "the vset backend (Redis 8 vector sets) is not available yet: use 'exact' or 'auto'"
        )
    return "exact"


@dataclass(frozen=True, slots=True)
class RecallItem:
    """One item of a recall index: its id, text, kind, meta and when it was added (seconds
    since the epoch, server clock)."""

    id: str
    text: str
    kind: str | None
    meta: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: an item and its cosine similarity to the query (-1 to 1)."""

    id: str
    text: str
    score: float
    kind: str | None
    meta: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True, slots=True)
class RecallInfo:
    """What an index holds: its backend, live items, and the embedder and vector format
    that filled it (None when it is empty; `dimension` 0 then)."""

    backend: str
    count: int
    embedder: str | None
    dimension: int
    vector_format: str | None


def recall_keys(prefix: str) -> tuple[str, str, str, str]:
    """R, X, C and T of the index under a scope's hash-tag prefix (see lua/recall_add.lua)."""
    return f"{prefix}:r", f"{prefix}:rx", f"{prefix}:rc", f"{prefix}:rt"


class RecallStore:
    """A scope instance's recall index, resolved once: keys, embedder, format, caps.

    Writes send `write_keys` (R, X, C, T, then the scope's change log when this Memory logs
    change events) and `events_args` after their own ARGV, as a scope's writes do (see
    `_call.Target`)."""

    __slots__ = (
        "aad",
        "cfg",
        "embedder",
        "events_args",
        "format",
        "keys",
        "label",
        "max_items",
        "prefix",
        "ref",
        "signature",
        "ttl_ms",
        "vbytes",
        "write_keys",
    )

    def __init__(
        self,
        cfg: Config,
        ref: ScopeRef,
        *,
        embedder: object = None,
        ttl: float | None = None,
        max_items: int = DEFAULT_MAX_ITEMS,
        vector_format: str = "int8",
    ) -> None:
        self.cfg = cfg
        self.ref = ref
        self.label = str(ref)
        p = cfg.keyspace.prefix(ref)
        self.prefix = p
        self.keys = recall_keys(p)
        self.write_keys: tuple[str, ...] = self.keys
        self.events_args: tuple[str, ...] = ()
        if cfg.events:
            self.write_keys = (*self.keys, log_key(p))
            self.events_args = event_args(cfg)
        #: with encryption, what its items' text and meta are bound to (each adds its id)
        self.aad = cfg.binding("r", ref.kind, ref.id)
        chosen = embedder if embedder is not None else getattr(cfg, "embedder", None)
        self.embedder = _embed.check_embedder(chosen if chosen is not None else _DEFAULT_EMBEDDER)
        if vector_format not in _embed.FORMATS:
            raise ConfigurationError(
                f"vector_format is one of {_embed.FORMATS}, not {vector_format!r}"
            )
        self.format = vector_format
        dim = self.embedder.dimension
        self.vbytes = _embed.vector_bytes(vector_format, dim)
        self.signature = f"{self.embedder.name}|{dim}|{vector_format}"
        self.ttl_ms = cfg.ttl_ms(ttl, scope=self.label)
        self.max_items = positive_int(
            "max_items", max_items, most=MAX_ITEMS_LIMIT, scope=self.label
        )

    def stored(self, item_id: str) -> str:
        """How an item id is stored: itself, or with `encrypt_names` its encryption."""
        return self.cfg.keyspace.stored(item_id, "recall")

    def plain(self, stored: str) -> str:
        """The item id a stored one stands for."""
        return self.cfg.keyspace.plain(stored, "recall")


# ---------------------------------------------------------------------------- items


def _seal_items(
    store: RecallStore, ids: list[str], vectors: list[bytes], blobs: list[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """Items' quantised vectors and blobs (see `_blob`) as stored: as they are, or when the
    Memory encrypts, each vector encrypted and each text and meta sealed (after the stored
    vector's tag), bound to the scope and the item id, both under one fresh nonce (the one
    place where they are)."""
    crypto = store.cfg.crypto
    if crypto is None or store.aad is None:
        return vectors, blobs
    nonces = [os.urandom(NONCE_BYTES) for _ in ids]
    stored = crypto.xor_vectors([crypto.head] * len(ids), nonces, vectors)
    assert stored is not None  # the primary key is in the keyring
    sealed = []
    for i, vec, blob, nonce in zip(ids, stored, blobs, nonces, strict=True):
        kind, _, data = blob.partition(b"\x00")
        where = bind(store.aad, i)
        sealed.append(kind + b"\x00" + crypto.seal_nonce(vector_tag(vec) + data, where, nonce))
    return stored, sealed


def _open_item(cfg: Config, aad: bytes | None, label: str, item_id: str, data: bytes) -> bytes:
    """The inverse of `_seal_items` for text and meta, `aad` the index's binding
    (DecryptionError for an altered or moved item, an item stored without encryption when
    the Memory encrypts, and an encrypted one when it does not)."""
    crypto = cfg.crypto
    if crypto is None or aad is None:
        if key_id_of(data) is not None:  # codec bytes start with their type char
            raise DecryptionError(
                "the stored item is encrypted, and this Memory has no encryption_key",
                key=item_id,
                scope=label,
                key_id=key_id_of(data),
            )
        return data
    if key_id_of(data) is None:
        raise DecryptionError(
            "the stored item is not encrypted (added before encryption was turned on: "
            "mem.reencrypt() encrypts such items)",
            key=item_id,
            scope=label,
        )
    return crypto.open(data, bind(aad, item_id), key=item_id, scope=label)


def _text(value: object, label: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValueError(
            f"a recall item's text is a non-empty string, not {value!r:.60}", scope=label
        )
    return value


def _kind(value: object, label: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise InvalidValueError(
            f"kind is None or a non-empty string without NUL, not {value!r}", scope=label
        )
    data = value.encode("utf-8", "surrogatepass")
    if len(data) > MAX_KIND_BYTES:
        raise InvalidValueError(f"kind is at most {MAX_KIND_BYTES} bytes", scope=label)
    return data


def _meta(value: object, label: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise InvalidValueError(f"meta is a dict or None, not {type(value).__name__}", scope=label)
    return value


def _item_id(value: object, label: str) -> str:
    if value is None:
        return secrets.token_hex(8)
    if not isinstance(value, str):
        raise InvalidKeyError(f"item ids are strings, not {type(value).__name__}", scope=label)
    return validate_key(value, scope=label)


def _blob(store: RecallStore, item_id: str, text: str, kind: bytes, meta: Any) -> bytes:
    """kind | NUL | type char + codec payload of [text, meta] (sealed by `_seal_items`
    when the Memory encrypts), checked against the cap at the size it is stored."""
    vtype, payload = encode_value(store.cfg.codec, [text, meta], key=item_id, scope=store.label)
    blob = kind + b"\x00" + vtype.encode() + payload
    crypto = store.cfg.crypto
    size = len(blob)
    if crypto is not None and store.aad is not None:
        size += len(crypto.head) + NONCE_BYTES + TAG_BYTES + VECTOR_TAG_BYTES
    if size > store.cfg.max_value_bytes:
        raise InvalidValueError(
            f"the encoded item is {size} bytes; the cap is {store.cfg.max_value_bytes}",
            key=item_id,
            scope=store.label,
        )
    return blob


def _item(
    store: RecallStore, item_id: str, record: bytes, vector: bytes | None = None
) -> RecallItem:
    """An item (its plain id) from its record "<created ms>:<blob>" and, when the Memory
    encrypts, its stored vector (checked against the record's tag)."""
    return _record_item(store.cfg, store.aad, store.label, item_id, record, vector)


def _record_item(
    cfg: Config,
    aad: bytes | None,
    label: str,
    item_id: str,
    record: bytes,
    vector: bytes | None = None,
) -> RecallItem:
    """An item from its record; with encryption, `vector` the stored one, or None for an
    event's record (which carries no vector: the tag is then not checked)."""
    created, _, blob = record.partition(b":")
    kind, _, sealed = blob.partition(b"\x00")
    data = _open_item(cfg, aad, label, item_id, sealed)
    if cfg.crypto is not None and aad is not None:  # opened: a sealed one
        tag, data = data[:VECTOR_TAG_BYTES], data[VECTOR_TAG_BYTES:]
        if vector is not None and vector_tag(vector) != tag:
            raise DecryptionError(
                "the stored vector failed authentication: altered, or moved from another "
                "item or scope",
                key=item_id,
                scope=label,
            )
    text, meta = decode_value(cfg.codec, data[:1], data[1:], key=item_id)
    return RecallItem(
        item_id, text, kind.decode("utf-8", "surrogatepass") or None, meta, int(created) / 1000
    )


def event_item(cfg: Config, ref: ScopeRef, item_id: str, record: bytes) -> RecallItem:
    """The item an "add" event carries (`events="values"`): its record, of the index of
    `ref`, `item_id` plain."""
    return _record_item(cfg, cfg.binding("r", ref.kind, ref.id), str(ref), item_id, record)


def vector_bytes_of(signature: bytes | str) -> int | None:
    """The bytes of one vector of an index, from its embedder signature (R's "m"), or None
    when it is not one."""
    text = signature.decode() if isinstance(signature, bytes) else signature
    parts = text.rsplit("|", 2)
    if len(parts) != 3 or parts[2] not in _embed.FORMATS or not parts[1].isdigit():
        return None
    return _embed.vector_bytes(parts[2], int(parts[1]))


def split_item(value: bytes, vbytes: int) -> tuple[bytes, bytes] | None:
    """An item's field (see lua/recall_add.lua) as (its vector, encrypted when its record
    is sealed, time and kind up to the NUL; its text and meta, sealed or not), or None when
    it is not one."""
    colon = value.find(b":", vbytes)
    nul = value.find(b"\x00", colon + 1) if colon >= 0 else -1
    if nul < 0:
        return None
    return value[: nul + 1], value[nul + 1 :]


def query_vector(store: RecallStore, query: object) -> list[float]:
    """The unit vector of a search query (kept in full precision: only stored vectors are
    quantised)."""
    text = _text(query, store.label)
    (v,) = _embed.embed_texts(store.embedder, [text], store.label)
    return v


# ---------------------------------------------------------------------------- writes


def recall_add(
    store: RecallStore,
    items: Sequence[tuple[object, object, object, object, object]],
) -> Call[list[str]]:
    """Add items, each (text, kind, meta, id, ttl): one call, all or nothing."""
    label = store.label
    texts, rows = _rows(store, items)
    vectors = _embed.embed_texts(store.embedder, texts, label)
    ids = [r[0] for r in rows]
    encoded = [_embed.encode_vector(store.format, v) for v in vectors]
    stored, blobs = _seal_items(store, ids, encoded, [r[2] for r in rows])
    args: list[Arg] = [store.signature, store.vbytes, store.max_items]
    size = 0
    for (i, ttl_ms, _), vec, blob in zip(rows, stored, blobs, strict=True):
        size += len(blob) + len(vec)
        args += [store.stored(i), ttl_ms, vec, blob]
    _check_call_size(size, label)
    args += store.events_args

    def parse(reply: Any) -> list[str]:
        return ids

    return Call(script("recall_add"), store.write_keys, tuple(args), parse, ids[0], label)


def recall_check(
    store: RecallStore, items: Sequence[tuple[object, object, object, object, object]]
) -> None:
    """Raise what `recall_add(store, items)` would raise for its input, without embedding
    anything: for a write that must not happen unless its items can be indexed after it."""
    _rows(store, items)


def _rows(
    store: RecallStore, items: Sequence[tuple[object, object, object, object, object]]
) -> tuple[list[str], list[tuple[str, int, bytes]]]:
    """The texts of `items` and their rows (id, ttl ms, record), each checked: everything
    `recall_add` refuses before its embedder runs (perhaps a paid model call)."""
    label = store.label
    most = min(store.cfg.max_batch, 1000)
    if not items:
        raise InvalidValueError("nothing to add", scope=label)
    if len(items) > most:
        raise InvalidValueError(f"at most {most} items per call, got {len(items)}", scope=label)
    texts, rows = [], []
    seen: set[str] = set()
    for text, kind, meta, item_id, ttl in items:
        t = _text(text, label)
        i = _item_id(item_id, label)
        if i in seen:
            raise InvalidValueError("an id appears twice in one call", key=i, scope=label)
        seen.add(i)
        ttl_ms = store.ttl_ms if ttl is None else ttl_to_ms(ttl, key=i, scope=label)
        rows.append((i, ttl_ms, _blob(store, i, t, _kind(kind, label), _meta(meta, label))))
        texts.append(t)
    # the call's size as far as it is known before embedding (sealing only adds to it)
    _check_call_size(sum(len(r[2]) + store.vbytes for r in rows), label)
    return texts, rows


def _check_call_size(size: int, label: str) -> None:
    if size > MAX_CALL_BYTES:
        raise InvalidValueError(
            f"at most {MAX_CALL_BYTES} bytes of items per call, got {size}", scope=label
        )


def recall_delete(store: RecallStore, ids: Iterable[str]) -> Call[int]:
    label = store.label
    wanted = _ids(store, ids, "delete")
    args = (*map(store.stored, wanted), *store.events_args)
    return Call(script("recall_delete"), store.write_keys, args, int, wanted[0], label)


def recall_touch(store: RecallStore, ids: Iterable[str], ttl: object = None) -> Call[int]:
    """Give the live items `ids` a new expiry: `ttl` seconds from now (None: the store's
    ttl, as an add without one gets); how many were live."""
    label = store.label
    wanted = _ids(store, ids, "touch")
    ttl_ms = store.ttl_ms if ttl is None else ttl_to_ms(ttl, key=wanted[0], scope=label)
    args: tuple[Arg, ...] = (ttl_ms, *map(store.stored, wanted))
    return Call(script("recall_touch"), store.keys, args, int, wanted[0], label)


def _ids(store: RecallStore, ids: Iterable[str], what: str) -> list[str]:
    """Distinct, valid item ids for one call (at least one, at most 1,000)."""
    label = store.label
    if isinstance(ids, (str, bytes)):
        raise InvalidValueError(f"{what} takes item ids, not one string", scope=label)
    wanted = list(dict.fromkeys(validate_key(i, scope=label) for i in ids))
    if not wanted:
        raise InvalidValueError(f"no ids to {what}", scope=label)
    if len(wanted) > store.cfg.max_batch or len(wanted) > 1000:
        raise InvalidValueError(f"at most 1000 ids per call, got {len(wanted)}", scope=label)
    return wanted


def recall_clear(store: RecallStore) -> Call[int]:
    keys, args = store.write_keys, store.events_args
    return Call(script("recall_clear"), keys, args, int, None, store.label)


# ---------------------------------------------------------------------------- reads


def recall_get(store: RecallStore, item_id: str) -> Call[RecallItem | None]:
    i = validate_key(item_id, scope=store.label)
    if store.cfg.crypto is None or store.aad is None:
        start = store.vbytes

        def parse(reply: Any) -> RecallItem | None:
            return None if reply is None else _item(store, i, reply)

    else:  # the whole field (the record from offset 0): the vector is checked too
        start, vb = 0, store.vbytes

        def parse(reply: Any) -> RecallItem | None:
            return None if reply is None else _item(store, i, reply[vb:], reply[:vb])

    args = (store.signature, start, store.stored(i))
    return Call(script("recall_get"), store.keys[:2], args, parse, i, store.label)


def recall_info(store: RecallStore) -> Call[RecallInfo]:
    def parse(reply: list[Any]) -> RecallInfo:
        sig, count = reply[0].decode(), int(reply[1])
        if not sig:
            return RecallInfo("exact", 0, None, 0, None)
        name, dim, fmt = sig.rsplit("|", 2)
        return RecallInfo("exact", count, name, int(dim), fmt)

    return Call(script("recall_info"), store.keys[:2], (), parse, None, store.label)


class RecallCache:
    """A client's copy of one index at `version`: rows of vectors, records and expiries
    (numpy arrays when numpy is installed, lists otherwise), and their kinds when a search
    asks for one, keyed by item ids as stored (see `RecallStore.stored`). Rows of removed
    items are reused. Thread-safe: every change and every ranking holds `lock`.

    With `crypto` (the Memory encrypts), vectors are decrypted as they load, with the key
    id and nonce at the head of their record's sealed blob (an item whose record is not
    sealed, stored before encryption was turned on, has a plain vector: read as it is),
    and the stored vectors are kept too (`stored`): a hit's record is checked against its
    own."""

    __slots__ = (
        "base",
        "crypto",
        "dim",
        "expiry",
        "fmt",
        "free",
        "ids",
        "kinds",
        "lock",
        "matrix",
        "now",
        "numpy",
        "records",
        "rows",
        "stamp",
        "stored",
        "vbytes",
        "vectors",
        "version",
    )

    def __init__(
        self, fmt: str, dim: int, numpy: bool | None = None, crypto: Crypto | None = None
    ) -> None:
        self.crypto = crypto
        self.fmt = fmt
        self.dim = dim
        self.vbytes = _embed.vector_bytes(fmt, dim)
        self.numpy = _embed.NUMPY is not None if numpy is None else numpy
        self.lock = threading.Lock()
        self.version = ""
        self.base = ""  # see lua/recall_sync.lua
        self.stamp = ""  # the creation stamp of the index read (see lua/recall_sync.lua)
        self.now = 0.0
        self._reset()

    def _reset(self) -> None:
        self.rows: dict[str, int] = {}
        self.ids: list[str | None] = []
        self.records: list[bytes] = []
        self.kinds: list[bytes] | None = None  # made when a search filters by kind
        self.free: list[int] = []
        self.vectors: list[list[float]] = []
        self.stored: list[bytes] = []  # with crypto only
        if self.numpy:
            np = _embed.NUMPY
            self.matrix = np.zeros((0, self.dim), dtype=np.float32)
            self.expiry = np.zeros(0, dtype=np.float64)
        else:
            self.expiry = []

    def __len__(self) -> int:
        return len(self.rows)

    def _drop(self, item_id: str) -> None:
        row = self.rows.pop(item_id, None)
        if row is not None:
            self.ids[row] = None
            self.records[row] = b""
            if self.crypto is not None:
                self.stored[row] = b""
            self.expiry[row] = -math.inf
            self.free.append(row)

    def _row(self, item_id: str) -> int:
        row = self.rows.get(item_id)
        if row is None:
            if self.free:
                row = self.free.pop()
            else:
                row = len(self.ids)
                self.ids.append(None)
                self.records.append(b"")
                if self.crypto is not None:
                    self.stored.append(b"")
                if not self.numpy:
                    self.vectors.append([])
                    self.expiry.append(-math.inf)
            self.rows[item_id] = row
            self.ids[row] = item_id
        return row

    def apply(self, since: str, reply: list[Any]) -> bool:
        """Bring the cache from `since` (the version the call was built with) up to the
        reply's version. True when another page must be read (or the cache had moved on
        meanwhile: the call then read nothing that counts)."""
        with self.lock:
            if self.version != since:
                return True
            self.now = float(reply[1])
            version = str(int(float(reply[0])))
            if len(reply) == 2:  # current, or no index
                if version == "0" and self.rows:
                    self._reset()
                self.version = self.base = version
                return False
            reset, more, n = reply[2] == b"1", bool(reply[3] == b"1"), int(reply[5])
            if reset:
                self._reset()
                self.base = reply[4].decode()
            self.stamp = reply[6].decode()  # the index's, which a rebuilt one does not share
            ids = [i.decode("utf-8", "surrogatepass") for i in reply[7 : 7 + n]]
            items = reply[7 + n : 7 + 2 * n]
            vb = self.vbytes
            vectors: Any = [item[:vb] for item in items]
            records = [item[vb:] for item in items]
            stored = vectors
            if self.crypto is not None:
                vectors = self._decrypt(vectors, records)
            at = 7 + 2 * n
            timed = int(reply[at])
            expiries = [math.inf] * n
            for j in range(at + 1, at + 1 + 2 * timed, 2):
                expiries[int(reply[j]) - 1] = float(reply[j + 1])
            for gone in reply[at + 1 + 2 * timed :]:
                self._drop(gone.decode("utf-8", "surrogatepass"))
            self.kinds = None
            reload = not self.ids
            if reload:  # rows in reply order
                rows = list(range(n))
                self.ids = list(ids)
                self.rows = dict(zip(ids, rows, strict=True))
                self.records = records
                if self.crypto is not None:
                    self.stored = stored
                if not self.numpy:
                    self.vectors = [[] for _ in rows]
                    self.expiry = [-math.inf] * n
            else:
                rows = [self._row(i) for i in ids]
                for row, record in zip(rows, records, strict=True):
                    self.records[row] = record
                if self.crypto is not None:
                    for row, vec in zip(rows, stored, strict=True):
                        self.stored[row] = vec
            if self.numpy:
                self._put_numpy(rows, vectors, expiries, reload)
            else:
                for row, vec, expiry in zip(rows, vectors, expiries, strict=True):
                    self.vectors[row] = _embed.decode_vector(self.fmt, vec)
                    self.expiry[row] = expiry
            self.version = version
            if not more:
                self.base = version
            return more

    def _decrypt(self, vectors: list[bytes], records: list[bytes]) -> Any:
        """Stored vectors decrypted (as a list of bytes, or with numpy an (n, vbytes) uint8
        array), grouped by the key their records are sealed under. A vector whose record is
        not sealed, or sealed under a key the keyring lacks, stays as it is: its record
        refuses to open when it is a hit."""
        crypto = self.crypto
        assert crypto is not None
        groups: dict[bytes, tuple[list[int], list[bytes]]] = {}
        head = b"\xff"  # the same head row after row, usually
        rows: list[int] = []
        nonces: list[bytes] = []
        skip = len(head)
        for j, record in enumerate(records):
            at = record.find(b"\x00") + 1
            if not record.startswith(head, at):
                if record[at : at + 1] != b"\x01" or len(record) < at + 2:
                    continue  # not sealed: codec bytes start with their type char
                head = record[at : at + 2 + record[at + 1]]
                skip = len(head)
                rows, nonces = groups.setdefault(head, ([], []))
            at += skip
            nonce = record[at : at + NONCE_BYTES]
            if len(nonce) == NONCE_BYTES:  # else a cut record, refused when opened
                rows.append(j)
                nonces.append(nonce)
        vb = self.vbytes
        blocks = -(-vb // 16)
        width = blocks * 16
        if not self.numpy:
            out = list(vectors)
            for head, (rows, nonces) in groups.items():
                stream = crypto.vector_stream(head, nonces, vb)
                if stream is None:
                    continue  # a key the keyring lacks
                for k, j in enumerate(rows):
                    key = int.from_bytes(stream[k * width : k * width + vb], "little")
                    out[j] = (int.from_bytes(out[j], "little") ^ key).to_bytes(vb, "little")
            return out
        np = _embed.NUMPY
        stored = np.frombuffer(b"".join(vectors), dtype=np.uint8).reshape(len(vectors), vb)
        # counter i of a block, big-endian, in the high half of its second 64-bit word
        counters = np.arange(blocks, dtype=">u4").view("<u4").astype("<u8") << 32
        whole = None
        for head, (rows, nonces) in groups.items():
            # the counter blocks (nonce | i) of every row at once
            raw = np.frombuffer(b"".join(nonces), dtype=np.uint8).reshape(len(rows), NONCE_BYTES)
            ivs = np.empty((len(rows), blocks, 2), dtype="<u8")
            ivs[:, :, 0] = raw[:, :8].copy().view("<u8")
            ivs[:, :, 1] = raw[:, 8:].copy().view("<u4").astype("<u8") | counters
            stream = crypto.vector_blocks(head, ivs.tobytes())
            if stream is None:
                continue  # a key the keyring lacks
            keys = np.frombuffer(stream, dtype=np.uint8).reshape(len(rows), width)[:, :vb]
            if len(rows) == len(vectors):  # all of them (rows in order): the common case
                return stored ^ keys
            if whole is None:
                whole = stored.copy()
            whole[np.asarray(rows)] ^= keys
        return stored if whole is None else whole

    def _put_numpy(
        self, rows: list[int], vectors: Any, expiries: list[float], reload: bool
    ) -> None:
        """Put decoded vectors (stored bytes, or an array of them: see `_decrypt`) and
        expiries in `rows` (`reload`: rows 0 to n - 1, in order; a delta's rows follow the
        items' write order, whatever its length)."""
        np = _embed.NUMPY
        size = len(self.ids)
        if size > len(self.matrix):  # room for a quarter more (rows past `size` unused)
            grown = max(size + size // 4, 2 * len(self.matrix), 64)
            matrix = np.empty((grown, self.dim), dtype=np.float32)
            old = len(self.matrix)
            matrix[:old] = self.matrix
            expiry = np.full(grown, -math.inf)
            expiry[:old] = self.expiry
            self.matrix, self.expiry = matrix, expiry
        if reload and len(rows) == size:
            _embed.decode_matrix(self.fmt, vectors, self.dim, out=self.matrix[:size])
            self.expiry[:size] = expiries
        elif rows:
            index = np.asarray(rows)
            self.matrix[index] = _embed.decode_matrix(self.fmt, vectors, self.dim)
            self.expiry[index] = expiries


def _kinds(cache: RecallCache) -> list[bytes]:
    """Each row's kind (b"": none, or a free row), made once per change of the cache."""
    if cache.kinds is None:
        kinds = []
        for record in cache.records:
            blob = record.partition(b":")[2]
            kinds.append(blob[: blob.find(b"\x00")])
        cache.kinds = kinds
    return cache.kinds


def rank(
    store: RecallStore,
    cache: RecallCache,
    query: Sequence[float],
    *,
    k: int,
    min_score: float | None,
    kind: str | None,
) -> list[Hit]:
    """The `k` best live items of `cache` for the unit vector `query`, best first."""
    want = None if kind is None else _kind(kind, store.label)
    with cache.lock:
        n = len(cache.ids)
        if not cache.rows:
            return []
        if cache.numpy:
            np = _embed.NUMPY
            with np.errstate(all="ignore"):  # rows of bytes that are no vector: see decode_matrix
                scores = cache.matrix[:n] @ np.asarray(query, dtype=np.float32)
            dead = cache.expiry[:n] <= cache.now
            if want is not None:
                dead |= np.fromiter((kd != want for kd in _kinds(cache)), bool, n)
            scores[dead] = -np.inf
            if min_score is not None:
                scores[scores < min_score] = -np.inf
            top = min(k, n)
            best = np.argpartition(-scores, top - 1)[:top] if top < n else np.arange(n)
            best = best[np.argsort(-scores[best], kind="stable")]
            chosen = [(int(r), float(scores[r])) for r in best if scores[r] > -np.inf]
        else:
            now = cache.now
            kinds = _kinds(cache) if want is not None else []
            scored = []
            for row in range(n):
                if cache.ids[row] is None or cache.expiry[row] <= now:
                    continue
                if want is not None and kinds[row] != want:
                    continue
                s = sum(map(operator.mul, cache.vectors[row], query))
                if min_score is None or s >= min_score:
                    scored.append((-s, row))
            scored.sort()
            chosen = [(row, -s) for s, row in scored[:k]]
        stored = cache.stored if cache.crypto is not None else None
        picked = [
            (cache.ids[r], cache.records[r], s, None if stored is None else stored[r])
            for r, s in chosen
        ]
    hits = []
    for item_id, record, score, vector in picked:
        assert item_id is not None
        it = _item(store, store.plain(item_id), record, vector)
        hits.append(Hit(it.id, it.text, round(score, 6), it.kind, it.meta, it.created_at))
    return hits


def check_k(k: object, label: str) -> int:
    return positive_int("k", k, most=1000, scope=label)


def check_kind(value: object, label: str) -> str | None:
    """A search's kind filter, checked before the query is embedded or the index read."""
    _kind(value, label)
    return None if value is None else str(value)


def check_min_score(value: object, label: str) -> float | None:
    """A search's min_score: None, or a number (inf and -inf too), not NaN nor an integer
    beyond any float."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValueError(f"min_score is a number or None, not {value!r}", scope=label)
    if isinstance(value, int) and not finite(value):  # (too long to print)
        raise InvalidValueError(
            "min_score is out of range: an integer beyond any float", scope=label
        )
    if math.isnan(value):
        raise InvalidValueError("min_score is a number or None, not nan", scope=label)
    return float(value)


def recall_sync(store: RecallStore, cache: RecallCache) -> Call[bool]:
    """The call that brings `cache` up to date (one page of it); its result says whether
    another is needed."""
    since, base = cache.version, cache.base

    def parse(reply: list[Any]) -> bool:
        more: bool = cache.apply(since, reply)
        return more

    args = (store.signature, since, base, PAGE_ITEMS, PAGE_BYTES, cache.stamp)
    return Call(script("recall_sync"), store.keys, args, parse, None, store.label)


# ---------------------------------------------------------------------------- caches


class _Caches:
    """The caches of one Memory: the most recently searched scopes, bounded in scopes and
    rows."""

    __slots__ = ("by_index", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_index: OrderedDict[tuple[str, str], RecallCache] = OrderedDict()

    def get(self, store: RecallStore) -> RecallCache:
        key = (store.prefix, store.signature)
        with self.lock:
            cache = self.by_index.get(key)
            if cache is None:
                crypto = store.cfg.crypto if store.aad is not None else None
                cache = RecallCache(store.format, store.embedder.dimension, crypto=crypto)
                self.by_index[key] = cache
            self.by_index.move_to_end(key)
            rows = sum(len(c.ids) for c in self.by_index.values())
            while len(self.by_index) > 1 and (
                len(self.by_index) > CACHE_SCOPES or rows > CACHE_ROWS
            ):
                _, old = self.by_index.popitem(last=False)
                rows -= len(old.ids)
            return cache


_CACHES: weakref.WeakKeyDictionary[object, _Caches] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_of(owner: object, store: RecallStore) -> RecallCache:
    """The cache of `store`'s index kept for `owner` (a Memory's runner)."""
    with _CACHES_LOCK:
        caches = _CACHES.get(owner)
        if caches is None:
            caches = _CACHES[owner] = _Caches()
    return caches.get(store)


def turn_items(
    thread_id: str, messages: Sequence[Message]
) -> list[tuple[object, object, object, object, object]]:
    """The recall items of conversation turns: each turn with text (its string content, or
    its text parts joined), id "<thread>:<message id>", kind its role, meta its thread and
    message id."""
    out: list[tuple[object, object, object, object, object]] = []
    for m in messages:
        content = m.content
        if isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict)]
            content = "\n".join(p for p in parts if isinstance(p, str) and p)
        if content:
            meta = {"thread": thread_id, "message": m.id}
            out.append((content, m.role, meta, f"{thread_id}:{m.id}", None))
    return out


def entries(
    items: object, kind: object, ttl: object, label: str
) -> list[tuple[object, object, object, object, object]]:
    """`add_many`'s items (texts, or mappings with "text" and optionally "kind", "meta",
    "id", "ttl") as (text, kind, meta, id, ttl), `kind` and `ttl` the defaults. One string
    (not a collection of items), anything else not iterable, and a mapping with other
    fields are refused with InvalidValueError naming the store (`label`)."""
    if isinstance(items, (str, bytes)):
        raise InvalidValueError("add_many takes a collection of items, not one string", scope=label)
    if not isinstance(items, Iterable):
        raise InvalidValueError(
            f"add_many takes a collection of items, not {type(items).__name__}", scope=label
        )
    out: list[tuple[object, object, object, object, object]] = []
    for item in items:
        if isinstance(item, Mapping):
            unknown = set(item) - {"text", "kind", "meta", "id", "ttl"}
            if unknown:
                raise InvalidValueError(
                    f"unknown item fields {sorted(unknown, key=str)}", scope=label
                )
            out.append(
                (
                    item.get("text"),
                    item.get("kind", kind),
                    item.get("meta"),
                    item.get("id"),
                    item.get("ttl", ttl),
                )
            )
        else:
            out.append((item, kind, None, None, ttl))
    return out
