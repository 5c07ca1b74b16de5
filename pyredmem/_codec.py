"""Value encoding: how Python values become the payloads the scripts store.

Integers (64-bit) and finite floats are stored as text so that scripts can do arithmetic on
them (`incr`); everything else goes through a pluggable `Codec` (msgpack by default) and is
opaque to the scripts.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import uuid
from typing import Any, Protocol, runtime_checkable

import msgpack

from ._errors import SerializationError

__all__ = ["Codec", "MsgpackCodec", "decode_value", "encode_value"]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# one-letter type tags, shared with the Lua scripts
CODEC, INT, FLOAT = "m", "i", "f"


@runtime_checkable
class Codec(Protocol):
    """Turns values into bytes and back. Raise any exception for a value it cannot encode."""

    def encode(self, value: Any) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


# msgpack extension codes for types msgpack lacks; payloads are ISO/text forms
_EXT_DATETIME, _EXT_DATE, _EXT_TIME, _EXT_TIMEDELTA, _EXT_UUID, _EXT_DECIMAL = range(1, 7)


def _default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):
        return msgpack.ExtType(_EXT_DATETIME, obj.isoformat().encode())
    if isinstance(obj, dt.date):
        return msgpack.ExtType(_EXT_DATE, obj.isoformat().encode())
    if isinstance(obj, dt.time):
        return msgpack.ExtType(_EXT_TIME, obj.isoformat().encode())
    if isinstance(obj, dt.timedelta):
        micros = (obj.days * 86400 + obj.seconds) * 1_000_000 + obj.microseconds
        return msgpack.ExtType(_EXT_TIMEDELTA, str(micros).encode())
    if isinstance(obj, uuid.UUID):
        return msgpack.ExtType(_EXT_UUID, obj.bytes)
    if isinstance(obj, decimal.Decimal):
        return msgpack.ExtType(_EXT_DECIMAL, str(obj).encode())
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot encode a value of type {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_DATETIME:
        return dt.datetime.fromisoformat(data.decode())
    if code == _EXT_DATE:
        return dt.date.fromisoformat(data.decode())
    if code == _EXT_TIME:
        return dt.time.fromisoformat(data.decode())
    if code == _EXT_TIMEDELTA:
        return dt.timedelta(microseconds=int(data))
    if code == _EXT_UUID:
        return uuid.UUID(bytes=data)
    if code == _EXT_DECIMAL:
        return decimal.Decimal(data.decode())
    return msgpack.ExtType(code, data)


# the types a list may hold and still read back whatever it holds
_SCALARS = frozenset({str, bytes, int, float, bool, type(None)})


def _flat(value: Any) -> bool:
    """Whether `value` is a list of scalars only."""
    if type(value) is not list:
        return False
    for item in value:
        if type(item) not in _SCALARS:
            return False
    return True


class MsgpackCodec:
    """msgpack with datetime, date, time, timedelta, UUID and Decimal; sets become lists and
    tuples become lists.

    `encode` refuses what `decode` could not read back (a dict keyed by tuples, whose keys
    would come back as unhashable lists): it decodes what it made before handing it out, so
    that no stored value can make a scope or a thread unreadable.
    """

    def __init__(self) -> None:
        # a Packer is reused (5x cheaper than packb), one per thread: its `default` hook
        # runs Python code, during which another thread could otherwise enter it
        self._local = threading.local()

    def encode(self, value: Any) -> bytes:
        packer = getattr(self._local, "packer", None)
        if packer is None:
            packer = msgpack.Packer(default=_default, use_bin_type=True, datetime=False)
            self._local.packer = packer
        data: bytes = packer.pack(value)
        # a map or an array, unless a flat list (a message's fields, most often): only a
        # map, or nesting deeper than msgpack reads, can fail to read back
        if (0x80 <= data[0] <= 0x9F or 0xDC <= data[0] <= 0xDF) and not _flat(value):
            try:
                self.decode(data)
            except Exception as exc:
                raise TypeError(f"it would not read back ({exc})") from exc
        return data

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, ext_hook=_ext_hook, strict_map_key=False)


def encode_value(
    codec: Codec, value: Any, *, key: str | None = None, scope: str | None = None
) -> tuple[str, bytes]:
    """Return (type tag, payload) for a value."""
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return INT, str(value).encode()
    if type(value) is float and value - value == 0.0:  # finite
        return FLOAT, repr(value).encode()
    try:
        return CODEC, codec.encode(value)
    except RecursionError as exc:
        raise SerializationError(
            "cannot serialise a value nested this deep", key=key, scope=scope
        ) from exc
    except Exception as exc:
        raise SerializationError(
            f"cannot serialise a value of type {type(value).__name__}: {exc}", key=key, scope=scope
        ) from exc


def decode_value(codec: Codec, vtype: bytes, payload: bytes, *, key: str | None = None) -> Any:
    """Inverse of `encode_value`; `vtype` is the one-byte type tag."""
    if vtype == b"i":
        return int(payload)
    if vtype == b"f":
        return float(payload)
    try:
        return codec.decode(payload)
    except Exception as exc:
        raise SerializationError(f"cannot decode a stored value: {exc}", key=key) from exc
