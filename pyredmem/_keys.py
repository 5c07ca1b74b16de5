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
from dataclasses import dataclass

from ._errors import InvalidKeyError, InvalidScopeError

__all__ = ["KINDS", "Keyspace", "ScopeRef", "key_slot", "validate_key"]

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


def validate_id(kind: str, ident: object) -> str:
    """A scope id: non-empty, at most 256 bytes, no braces or control characters."""
    if not isinstance(ident, str):
        raise InvalidScopeError(f"{kind} ids are strings, not {type(ident).__name__}", scope=kind)
    if not ident:
        raise InvalidScopeError(f"{kind} ids cannot be empty", scope=kind)
    if len(_utf8(ident, f"{kind} id", InvalidScopeError, kind)) > MAX_ID_BYTES:
        raise InvalidScopeError(f"{kind} ids are at most {MAX_ID_BYTES} bytes", scope=kind)
    if "{" in ident or "}" in ident or _CONTROL_RE.search(ident):
        raise InvalidScopeError(
            f"{kind} ids cannot contain '{{', '}}' or control characters", scope=f"{kind}:{ident}"
        )
    return ident


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


@dataclass(frozen=True, slots=True)
class Keyspace:
    """Where a Memory's keys live: a namespace and an optional tenant."""

    namespace: str = "pm"
    tenant: str | None = None

    def __post_init__(self) -> None:
        validate_name("namespace", self.namespace)
        if self.tenant is not None:
            validate_name("tenant", self.tenant)

    def prefix(self, ref: ScopeRef) -> str:
        return f"{self.namespace}:{{{self.tenant or ''}:{ref.kind}:{ref.id}}}"

    def scope_keys(self, ref: ScopeRef) -> tuple[str, str]:
        p = self.prefix(ref)
        return f"{p}:h", f"{p}:x"


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
