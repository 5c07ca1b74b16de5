"""Key layout and input validation (no I/O).

Every scope instance lives under one hash tag, so all keys a script touches for it share a
cluster slot:

    <namespace>:{<tenant>:<kind>:<id>}:h   hash: values and their type/version
    <namespace>:{<tenant>:<kind>:<id>}:x   zset: key -> expiry (ms)

`<tenant>` is empty without a tenant; the global scope's id is empty. Tenants and
namespaces cannot contain ':', '{' or '}', and ids cannot contain '{' or '}', so no choice of
names can make one scope's keys collide with another's or leave its hash tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._errors import InvalidKeyError, InvalidScopeError

if TYPE_CHECKING:
    from ._crypto import Crypto

__all__ = [
    "KINDS",
    "KIND_ALIASES",
    "Keyspace",
    "ScopeRef",
    "glob_escape",
    "key_slot",
    "scope_ref_of",
    "validate_key",
    "validate_tag_part",
]

#: Scope kinds, most specific first: the order of a hierarchical lookup.
KINDS: tuple[str, ...] = (
    "step",
    "run",
    "workflow",
    "session",
    "user",
    "actor",
    "organization",
    "global",
)

#: other names of scope kinds, each meaning the kind it maps to: "agent" (Flusso's name for
#: what acts in a workflow: an agent, a tool, a bot) is an actor
KIND_ALIASES: dict[str, str] = {"agent": "actor"}

MAX_KEY_BYTES = 1024
MAX_ID_BYTES = 256
_NAME_RE = re.compile(r"[A-Za-z0-9._@+=/-]{1,128}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _utf8(
    value: str, what: str, error: type[InvalidKeyError | InvalidScopeError], scope: str | None
) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(f"{what} is not valid UTF-8 text", scope=scope) from exc


def validate_key(key: object, *, scope: str | None = None) -> str:
    """A key: a non-empty string of at most 1024 UTF-8 bytes. Any characters are safe."""
    if type(key) is str and 0 < len(key) <= MAX_KEY_BYTES and key.isascii():
        return key  # the common case, decided without encoding
    if not isinstance(key, str):
        raise InvalidKeyError(f"keys are strings, not {type(key).__name__}", scope=scope)
    if not key:
        raise InvalidKeyError("keys cannot be empty", key=key, scope=scope)
    if len(_utf8(key, "key", InvalidKeyError, scope)) > MAX_KEY_BYTES:
        raise InvalidKeyError(f"keys are at most {MAX_KEY_BYTES} bytes", key=key[:64], scope=scope)
    return key


def validate_tag_part(
    what: str,
    value: object,
    *,
    error: type[InvalidKeyError | InvalidScopeError] = InvalidScopeError,
    scope: str | None = None,
) -> str:
    """A name that goes inside a hash tag (a scope id, a limited key or group): a non-empty
    string of at most 256 UTF-8 bytes, without braces or control characters."""
    if not isinstance(value, str):
        raise error(f"{what}s are strings, not {type(value).__name__}", scope=scope)
    if not value:
        raise error(f"{what}s cannot be empty", scope=scope)
    if len(_utf8(value, what, error, scope)) > MAX_ID_BYTES:
        raise error(f"{what}s are at most {MAX_ID_BYTES} bytes", key=value[:64], scope=scope)
    if "{" in value or "}" in value or _CONTROL_RE.search(value):
        raise error(
            f"{what}s cannot contain '{{', '}}' or control characters", key=value, scope=scope
        )
    return value


def validate_id(kind: str, ident: object) -> str:
    """A scope id (see `validate_tag_part`)."""
    return validate_tag_part(f"{kind} id", ident, scope=kind)


def validate_name(what: str, name: object) -> str:
    """A namespace or tenant: 1-128 of A-Z a-z 0-9 . _ @ + = / -"""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidScopeError(
            f"{what} must be 1-128 characters from A-Z a-z 0-9 . _ @ + = / -, got {name!r}"
        )
    return name


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """One scope instance: a kind and an id ("" for the global scope)."""

    kind: str
    id: str

    @classmethod
    def of(cls, kind: object, ident: object = None) -> ScopeRef:
        if type(kind) is str and kind in KIND_ALIASES:
            kind = KIND_ALIASES[kind]
        if kind not in KINDS:
            raise InvalidScopeError(f"unknown scope kind {kind!r}; expected one of {KINDS}")
        assert isinstance(kind, str)
        if kind == "global":
            if ident not in (None, ""):
                raise InvalidScopeError("the global scope takes no id", scope="global")
            return cls("global", "")
        return cls(kind, validate_id(kind, ident))

    @property
    def precedence(self) -> int:
        return KINDS.index(self.kind)

    def __str__(self) -> str:
        return self.kind if self.kind == "global" else f"{self.kind}:{self.id}"


def scope_ref_of(scope: object) -> ScopeRef | None:
    """The scope a `scope=` argument names: None, a ScopeRef, or a scope handle (anything
    with a `ref`), validated again since a ScopeRef can be built by hand."""
    if scope is None:
        return None
    ref = scope if isinstance(scope, ScopeRef) else getattr(scope, "ref", None)
    if not isinstance(ref, ScopeRef):
        raise InvalidScopeError(
            f"scope is a scope handle (mem.user('alice')) or a ScopeRef, not {scope!r}"
        )
    return ScopeRef.of(ref.kind, ref.id or None)


@dataclass(frozen=True, slots=True)
class Keyspace:
    """Where a Memory's keys live: a namespace and an optional tenant. With `names` (the
    Memory's ciphers, when it encrypts names), scope ids, keys, thread ids, cache keys,
    recall item ids, fact subjects and rate limiter and semaphore subjects are stored as
    their deterministic encryption (`stored`), read back with `plain`."""

    namespace: str = "pm"
    tenant: str | None = None
    names: Crypto | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate_name("namespace", self.namespace)
        if self.tenant is not None:
            validate_name("tenant", self.tenant)

    def stored(self, name: str, what: str) -> str:
        """How a name is stored: itself, or with `names` its encryption. `what` is its
        kind: "key", "thread", "cache" (a cache key), "recall" (an item id), "limit" and
        "group" (a limited key and group), "semaphore" (a semaphore's key), "subject" (a
        fact's subject), or a scope kind (a scope id). Encryptions are base64url: no braces,
        fit for a hash tag."""
        return name if self.names is None else self.names.name(name, what)

    def plain(self, stored: str, what: str) -> str:
        """The name a stored one stands for (DecryptionError when it is not one)."""
        return stored if self.names is None else self.names.unname(stored, what)

    def stored_id(self, ref: ScopeRef) -> str:
        """How a scope's id is stored ("" for the global scope)."""
        return ref.id if self.names is None or not ref.id else self.names.name(ref.id, ref.kind)

    def stored_label(self, ref: ScopeRef) -> str:
        """str(ref) as stored in other keys (a scoped cache's)."""
        return ref.kind if ref.kind == "global" else f"{ref.kind}:{self.stored_id(ref)}"

    def prefix(self, ref: ScopeRef) -> str:
        return f"{self.namespace}:{{{self.tenant or ''}:{ref.kind}:{self.stored_id(ref)}}}"

    def scope_keys(self, ref: ScopeRef) -> tuple[str, str]:
        p = self.prefix(ref)
        return f"{p}:h", f"{p}:x"

    def scope_pattern(self, ref: ScopeRef) -> str:
        """A SCAN MATCH pattern over every key under `ref`'s hash tag (its values, threads,
        facts, change log, and whatever else a feature keeps there)."""
        return f"{glob_escape(self.prefix(ref))}:*"

    def scope_suffix(self, ref: ScopeRef, key: str) -> str | None:
        """What follows `ref`'s hash tag in `key` ("h", "t:<thread>:l", ...), or None when
        `key` is not under that tag. (Ids hold no braces, so the tag ends where the
        prefix does: no other scope's key starts with it.)"""
        head = self.prefix(ref) + ":"
        return key[len(head) :] if key.startswith(head) else None

    def namespace_pattern(self) -> str:
        """A SCAN MATCH pattern over every key of this namespace, whatever its tenant (read
        each one's with `tenant_of`)."""
        return glob_escape(f"{self.namespace}:{{") + "*"

    def tenant_of(self, key: str) -> str | None:
        """The tenant ("" for none) of a key of this namespace, whatever this keyspace's
        own tenant; None when `key` is no key of the namespace. (Tenants hold no ':', so
        the tenant ends at the first one.)"""
        head = f"{self.namespace}:{{"
        if not key.startswith(head):
            return None
        tenant, sep, _ = key[len(head) :].partition(":")
        if not sep or (tenant and not _NAME_RE.fullmatch(tenant)):
            return None
        return tenant

    def kind_pattern(self, kind: str) -> str:
        """A SCAN MATCH pattern over every key of the scopes of `kind` (every id), read
        with `scope_key`."""
        return glob_escape(f"{self.namespace}:{{{self.tenant or ''}:{kind}:") + "*"

    def plain_label(self, label: str) -> str:
        """A scope label as `stored_label` stores it, as the user named the scope
        ("user:alice"; "" stays "", for a cache of no scope)."""
        kind, sep, stored = label.partition(":")
        return f"{kind}:{self.plain(stored, kind)}" if sep else label

    def tenant_pattern(self) -> str:
        """A SCAN MATCH pattern over every key of this namespace and tenant: every scope's
        and every cache bucket's (whose tags start "<tenant>:cache:")."""
        return glob_escape(f"{self.namespace}:{{{self.tenant or ''}:") + "*"

    def scope_key(self, key: str) -> tuple[str, str, str] | None:
        """(kind, id as stored, what follows the hash tag) of a key under a scope's hash tag
        of this keyspace, or None when `key` is not one (a cache bucket's key, another
        tenant's, or no pyredmem key)."""
        head = f"{self.namespace}:{{{self.tenant or ''}:"
        end = key.find("}", len(head))
        if not key.startswith(head) or end < 0 or key[end + 1 : end + 2] != ":":
            return None
        kind, sep, ident = key[len(head) : end].partition(":")
        if not sep or kind not in KINDS or "{" in ident:
            return None
        return kind, ident, key[end + 2 :]


_GLOB_SPECIAL = re.compile(r"([\\\[\]?*])")


def glob_escape(text: str) -> str:
    """`text` as a literal in a Redis glob (SCAN MATCH, PSUBSCRIBE): \\ [ ] ? * escaped."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_CRC16 = _crc16_table()


def key_slot(key: str) -> int:
    """The Redis Cluster slot of a key (CRC16/XMODEM of its hash tag, mod 16384)."""
    data = key.encode("utf-8")
    start = data.find(b"{")
    if start != -1:
        end = data.find(b"}", start + 1)
        if end > start + 1:
            data = data[start + 1 : end]
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[((crc >> 8) ^ byte) & 0xFF]
    return crc % 16384
