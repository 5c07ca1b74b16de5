"""Encryption at rest (no I/O): keys, the sealed format, and what each ciphertext is bound to.

With `Memory(encryption_key=...)` every value a user stores (scope values, turns, cache
entries, fact objects, and so the values change events carry) is sealed on the client with
AES-256-GCM before it leaves the process:

    0x01 | key id length (1 byte) | key id (ASCII) | nonce (12 bytes) | ciphertext | tag (16)

The associated data binds the ciphertext to where it lives (namespace, tenant, scope, and
the key, thread and message id, cache and key, or subject and predicate; see `bind`), so a
value copied anywhere else fails to open, as does a flipped bit or a key id the keyring
lacks: `DecryptionError`, never a wrong value.

Each 32-byte key is never used directly: HKDF-SHA256 derives one subkey per purpose (values,
names, digests), so the same key material never serves two algorithms. With
`encrypt_names=True`, scope ids, keys, thread ids, cache keys, recall item ids, fact
subjects and rate limiter and semaphore subjects are replaced in Redis by a deterministic
AES-SIV encryption (base64url; its associated data the kind of name, so equal texts of two
kinds differ) under the keyring's names key, so that lookups still find them; digests that
index values (fact objects, `@cached` arguments) are HMACs under it.

Recall vectors (see `xor_vectors`) are encrypted with AES-256-CTR under a "vectors" subkey,
length-preserving, their IV the nonce of their item's sealed record (its own key and
purpose: the nonce is fresh per write, never reused under either key); the record's
plaintext starts with `vector_tag` of the stored vector, so that a vector altered or moved
fails when its item is opened.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._codec import Codec, decode_value
from ._errors import ConfigurationError, DecryptionError

__all__ = [
    "SEALED",
    "Crypto",
    "Keyring",
    "bind",
    "crypto_of",
    "key_id_of",
    "open_value",
    "scope_binding",
    "seal_value",
    "vector_tag",
]

KEY_BYTES = 32
VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
#: bytes of a recall vector's tag (see `vector_tag`), and of one AES block
VECTOR_TAG_BYTES = 16
_BLOCK = 16
_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
_LEN = struct.Struct(">I")
_MEMO_SIZE = 8192  # names remembered both ways (see Crypto._remember)
_OPENED_ROWS = 4096  # turns remembered opened (see Opened)
_OPENED_BYTES = 8 * 1024 * 1024


def _key_bytes(what: str, value: object) -> bytes:
    """32 raw bytes, or their base64 (standard or URL-safe) text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, str):
        text = value.strip().replace("-", "+").replace("_", "/")
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigurationError(f"{what} is not valid base64") from exc
    else:
        raise ConfigurationError(
            f"{what} is 32 bytes, their base64 text, or a Keyring; not {type(value).__name__}"
        )
    if len(raw) != KEY_BYTES:
        raise ConfigurationError(f"{what} must be {KEY_BYTES} bytes (AES-256), got {len(raw)}")
    return raw


def fingerprint(key: bytes) -> str:
    """The id a lone key gets: 'k' and 8 hex digits of a hash of it (not a secret)."""
    return "k" + hashlib.sha256(b"pyredmem key id\0" + key).hexdigest()[:8]


class Keyring:
    """Named 32-byte keys: `primary` seals new writes, every key opens what it sealed (in
    this ring, or before as a lone `encryption_key`, under its fingerprint id).

    `Keyring({"2025": old, "2026": new}, primary="2026", names="2025")`. Keys are raw bytes
    or base64 text; ids are 1-32 characters from A-Z a-z 0-9 . _ -. `names` is the key that
    keys digests (fact objects, `@cached` arguments) and, with `encrypt_names=True`,
    encrypts key names: rotation rewrites values, not digests or key names, so it must stay
    the same (and stay in the ring) for the data's life; a ring of several keys must name
    it, and a lone key is its own. Typically the first key the data was written with.
    """

    __slots__ = ("_keys", "names", "primary")

    def __init__(
        self, keys: Mapping[str, bytes | str], *, primary: str, names: str | None = None
    ) -> None:
        if not isinstance(keys, Mapping) or not keys:
            raise ConfigurationError("a Keyring needs at least one key: {id: 32 bytes}")
        parsed: dict[str, bytes] = {}
        for kid, key in keys.items():
            if not isinstance(kid, str) or not _ID_RE.fullmatch(kid):
                raise ConfigurationError(
                    f"key ids are 1-32 characters from A-Z a-z 0-9 . _ -, got {kid!r}"
                )
            parsed[kid] = _key_bytes(f"key {kid!r}", key)
        if primary not in parsed:
            raise ConfigurationError(f"the primary key id {primary!r} is not in the keyring")
        if names is not None and names not in parsed:
            raise ConfigurationError(f"the names key id {names!r} is not in the keyring")
        if names is None and len(parsed) > 1:
            raise ConfigurationError(
                "a keyring of several keys names the one that keys digests and encrypted "
                "names, which must stay the same for the data's life (rotation rewrites "
                "values, not digests or key names): Keyring(keys, primary=..., names=...)"
            )
        self._keys = parsed
        self.primary = primary
        self.names = names

    @classmethod
    def of(cls, key: object) -> Keyring:
        """A Keyring as given, or one of a lone key (its id: `fingerprint`)."""
        if isinstance(key, Keyring):
            return key
        raw = _key_bytes("encryption_key", key)
        kid = fingerprint(raw)
        return cls({kid: raw}, primary=kid)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def key(self, kid: str) -> bytes:
        return self._keys[kid]

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(ids={list(self._keys)!r}, primary={self.primary!r})"


def _derive(key: bytes, purpose: bytes, length: int = KEY_BYTES) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=b"pyredmem/1 " + purpose
    ).derive(key)


def bind(prefix: bytes, *parts: str) -> bytes:
    """Associated data: `prefix` (see `scope_binding`) and each part, length-prefixed so that
    no two lists of parts give the same bytes."""
    if len(parts) == 1:  # a key or message id added to its place's binding: every read
        data = parts[0].encode("utf-8", "surrogatepass")
        return prefix + _LEN.pack(len(data)) + data
    out = [prefix]
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        out.append(_LEN.pack(len(data)))
        out.append(data)
    return b"".join(out)


def scope_binding(namespace: str, tenant: str | None, what: str, *names: str) -> bytes:
    """What every ciphertext of one place shares: the namespace, the tenant, what it is
    ("v" scope values, "t" turns, "c" cache entries, "f" facts) and the names of its home
    (a scope's kind and id; a cache's name and scope)."""
    return bind(b"pyredmem/1", namespace, tenant or "", what, *names)


def vector_tag(stored: bytes) -> bytes:
    """What a sealed recall record's plaintext starts with: a digest of its item's stored
    (encrypted) vector. Inside the record's ciphertext, so only the key can make one; a
    vector altered, or moved from another item, no longer matches it."""
    return hashlib.sha256(stored).digest()[:VECTOR_TAG_BYTES]


def key_id_of(blob: bytes) -> str | None:
    """The key id a sealed value names, or None when it is not one."""
    if len(blob) < 2 or blob[0] != VERSION:
        return None
    end = 2 + blob[1]
    if len(blob) < end + NONCE_BYTES + TAG_BYTES:
        return None
    try:
        return blob[2:end].decode("ascii")
    except UnicodeDecodeError:
        return None


class Opened:
    """Turns this process opened lately: (binding, stored entry) -> the entry's row with its
    body opened. A chatbot reads the same newest turns again at every turn; a turn found
    here is one already authenticated at that very place (its thread's binding, and the
    exact bytes, header and message id included), so skipping its decryption returns what
    it would, and a moved or altered turn never matches. Bounded in rows and bytes (all
    forgotten at once when full: cheap)."""

    __slots__ = ("_bytes", "rows")

    def __init__(self) -> None:
        self.rows: dict[tuple[bytes, bytes], tuple[Any, ...]] = {}
        self._bytes = 0

    def keep(self, binding: bytes, entry: bytes, row: tuple[Any, ...]) -> None:
        size = len(entry) + len(row[3])
        if len(self.rows) >= _OPENED_ROWS or self._bytes + size > _OPENED_BYTES:
            self.rows.clear()
            self._bytes = 0
        self.rows[binding, entry] = row
        self._bytes += size


class Crypto:
    """A keyring's ciphers: AES-256-GCM for values, AES-SIV for names, HMAC for digests."""

    __slots__ = (
        "_digest_key",
        "_heads",
        "_memo",
        "_names",
        "_open",
        "_seal",
        "_sealer",
        "_vectors",
        "encrypt_names",
        "opened",
        "ring",
    )

    def __init__(self, ring: Keyring, *, encrypt_names: bool = False) -> None:
        self.ring = ring
        self.encrypt_names = encrypt_names
        # each key opens what it sealed in a ring, and as a lone key (under its fingerprint)
        keys = {kid: ring.key(kid) for kid in ring.ids}
        for kid in ring.ids:
            keys.setdefault(fingerprint(ring.key(kid)), ring.key(kid))
        self._open = {kid: AESGCM(_derive(key, b"values")) for kid, key in keys.items()}
        # a sealed value's head (version, key id length, key id) -> its cipher: `open` finds
        # the key with one slice and one lookup (see the format in the module docstring)
        self._heads = {
            bytes([VERSION, len(kid)]) + kid.encode("ascii"): cipher
            for kid, cipher in self._open.items()
        }
        self._sealer = self._open[ring.primary]
        head = ring.primary.encode("ascii")
        self._seal = bytes([VERSION, len(head)]) + head
        # a sealed value's head -> AES-256 (ECB: the CTR keystream of many IVs in one call)
        # under that key's vectors subkey (see `xor_vectors`)
        self._vectors = {
            bytes([VERSION, len(kid)]) + kid.encode("ascii"): Cipher(
                algorithms.AES(_derive(key, b"vectors")), modes.ECB()
            )
            for kid, key in keys.items()
        }
        names = ring.names or ring.primary  # a lone key's own (see Keyring)
        self._names = AESSIV(_derive(ring.key(names), b"names", 64))
        self._digest_key = _derive(ring.key(names), b"digests")
        self._memo: dict[tuple[str, str], str] = {}
        #: turns opened lately (see `Opened`)
        self.opened = Opened()

    @property
    def primary(self) -> str:
        return self.ring.primary

    def seal(self, data: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return self._seal + nonce + self._sealer.encrypt(nonce, data, aad)

    @property
    def head(self) -> bytes:
        """How a value sealed now starts: version, key id length, the primary key id."""
        return self._seal

    def seal_nonce(self, data: bytes, aad: bytes, nonce: bytes) -> bytes:
        """`seal` with a given nonce: a fresh random one (`os.urandom(NONCE_BYTES)`) that
        the recall vector of the same write uses as its IV (see `xor_vectors`)."""
        return self._seal + nonce + self._sealer.encrypt(nonce, data, aad)

    def vector_stream(self, head: bytes, nonces: list[bytes], size: int) -> bytes | None:
        """The AES-256-CTR keystreams of recall vectors of `size` bytes whose records are
        sealed under the key of `head` (version, key id length, key id): under that key's
        vectors subkey, IV each nonce + a 4-byte zero counter, each keystream `size`
        rounded up to whole 16-byte blocks, in order. None when the keyring lacks the
        key. One AES call however many vectors: a search cache loads thousands."""
        counters = [c.to_bytes(4, "big") for c in range(-(-size // _BLOCK))]
        # block i of a keystream is AES(nonce | i), as CTR makes it (i < 2^32)
        return self.vector_blocks(head, b"".join(n + n.join(counters) for n in nonces))

    def vector_blocks(self, head: bytes, blocks: bytes) -> bytes | None:
        """AES-256 of 16-byte counter blocks (nonce | 4-byte big-endian counter) under the
        vectors subkey of the key of `head`: keystreams (see `vector_stream`), for a caller
        that builds the blocks faster (numpy). None when the keyring lacks the key."""
        cipher = self._vectors.get(head)
        if cipher is None:
            return None
        return cipher.encryptor().update(blocks)

    def xor_vectors(
        self, heads: list[bytes], nonces: list[bytes], vectors: list[bytes]
    ) -> list[bytes] | None:
        """Recall vectors (all of one length) encrypted, or decrypted (the same operation):
        each XOR its keystream (see `vector_stream`; `heads[j]` and `nonces[j]` those of
        the record of vector j). None when a head names a key the keyring lacks."""
        if not vectors:
            return []
        size = len(vectors[0])
        width = -(-size // _BLOCK) * _BLOCK
        groups: dict[bytes, list[int]] = {}
        for j, head in enumerate(heads):
            groups.setdefault(head, []).append(j)
        out = list(vectors)
        for head, rows in groups.items():
            stream = self.vector_stream(head, [nonces[j] for j in rows], size)
            if stream is None:
                return None
            for k, j in enumerate(rows):
                key = int.from_bytes(stream[k * width : k * width + size], "little")
                out[j] = (int.from_bytes(vectors[j], "little") ^ key).to_bytes(size, "little")
        return out

    def open(
        self, blob: bytes, aad: bytes, *, key: str | None = None, scope: str | None = None
    ) -> bytes:
        """The plaintext of a sealed value, or DecryptionError."""
        if len(blob) > 1:  # the common case: a head of this keyring, and room for the rest
            start = 2 + blob[1]
            cipher = self._heads.get(blob[:start])
            if cipher is not None and len(blob) >= start + NONCE_BYTES + TAG_BYTES:
                try:
                    return cipher.decrypt(
                        blob[start : start + NONCE_BYTES], blob[start + NONCE_BYTES :], aad
                    )
                except InvalidTag:
                    pass  # refused below, with the error's data
        kid = key_id_of(blob)
        if kid is None:
            raise DecryptionError("the stored value is not an encrypted one", key=key, scope=scope)
        cipher = self._open.get(kid)
        if cipher is None:
            raise DecryptionError(
                f"the stored value is encrypted under key id {kid!r}, which the keyring lacks",
                key=key,
                scope=scope,
                key_id=kid,
            )
        start = 2 + blob[1]
        nonce = blob[start : start + NONCE_BYTES]
        try:
            return cipher.decrypt(nonce, blob[start + NONCE_BYTES :], aad)
        except InvalidTag:
            raise DecryptionError(
                "the stored value failed authentication: altered, or copied from another key, "
                "scope, thread or tenant",
                key=key,
                scope=scope,
                key_id=kid,
            ) from None

    def open_turns(self, rows: list[Any], prefix: bytes) -> list[bytes] | None:
        """The plaintexts of turn rows ([ms, tokens, message id, sealed body]), each bound
        to `prefix` (its thread's binding) and its message id: the hot loop of an encrypted
        read, `open` and `bind` inlined. None when any of them fails (then `open` each, to
        raise the error that names it)."""
        heads, pack = self._heads, _LEN.pack
        out: list[bytes] = []
        append = out.append
        head: bytes = b"\xff"
        cipher: Any = None
        start = 0
        try:
            for row in rows:
                body = row[3]
                if not body.startswith(head):
                    start = 2 + body[1]
                    head = body[:start]
                    cipher = heads[head]
                mid = row[2].encode("utf-8", "surrogatepass")
                nonce, sealed = body[start : start + NONCE_BYTES], body[start + NONCE_BYTES :]
                append(cipher.decrypt(nonce, sealed, prefix + pack(len(mid)) + mid))
        except (InvalidTag, KeyError, IndexError, TypeError, AttributeError, ValueError):
            return None
        return out

    def digest(self, data: bytes) -> str:
        """A keyed digest (HMAC-SHA256, 32 hex digits): equal for equal data, and no
        dictionary of guesses reverses it without the key."""
        return hmac.new(self._digest_key, data, hashlib.sha256).hexdigest()[:32]

    def name(self, text: str, what: str) -> str:
        """The stored form of a name with `encrypt_names`: deterministic, base64url."""
        memo = self._memo
        found = memo.get((what, text))
        if found is not None:
            return found
        data = self._names.encrypt(text.encode("utf-8", "surrogatepass"), [what.encode()])
        stored = base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
        self._remember(what, text, stored)
        return stored

    def unname(self, stored: str, what: str) -> str:
        """The name a stored form encrypts (DecryptionError when it is not one)."""
        found = self._memo.get((what + "\0", stored))
        if found is not None:
            return found
        try:
            data = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
            text = self._names.decrypt(data, [what.encode()]).decode("utf-8", "surrogatepass")
        except (InvalidTag, ValueError, binascii.Error):
            raise DecryptionError(
                f"the stored {what} name is not one this keyring encrypted", key=stored[:64]
            ) from None
        self._remember(what, text, stored)
        return text

    def _remember(self, what: str, text: str, stored: str) -> None:
        """Names recur (a handle per request on the same user): keep the last few thousand
        both ways, forgetting all at once when full (cheap, and bounded)."""
        memo = self._memo
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[(what, text)] = stored
        memo[(what + "\0", stored)] = text


#: the type tag of a sealed scope value or cache entry: the plaintext is the value's own
#: type tag and payload (see _codec), so numbers come back as numbers
SEALED = "s"


def seal_value(
    crypto: Crypto | None, place: bytes | None, vtype: str, payload: bytes, *parts: str
) -> tuple[str, bytes]:
    """(type, payload) to store: as given when `place` (a place's binding, see
    `Config.binding`) is None, else (SEALED, the type tag and payload sealed, bound to
    `place` and `parts`: a key, a thread and message id, ...)."""
    if place is None:
        return vtype, payload
    assert crypto is not None
    return SEALED, crypto.seal(vtype.encode() + payload, bind(place, *parts))


def open_value(
    crypto: Crypto | None,
    codec: Codec,
    place: bytes | None,
    vtype: bytes,
    payload: bytes,
    *parts: str,
    key: str | None = None,
    scope: str | None = None,
) -> Any:
    """A stored value (the inverse of `seal_value`): opened when sealed, under `place` and
    `parts`. A Memory with a key refuses codec payloads that are not sealed (numbers stay
    readable: `incr` counters cannot be encrypted); one without a key refuses sealed ones."""
    if place is None and vtype != b"s":  # not encrypting: the common path
        return decode_value(codec, vtype, payload, key=key)
    if vtype == b"s":
        if crypto is None or place is None:
            raise DecryptionError(
                "the stored value is encrypted, and this Memory has no encryption_key",
                key=key,
                scope=scope,
                key_id=key_id_of(payload),
            )
        plain = crypto.open(payload, bind(place, *parts), key=key, scope=scope)
        return decode_value(codec, plain[:1], plain[1:], key=key)
    if vtype == b"m":
        raise DecryptionError(
            "the stored value is not encrypted (written before encryption was turned on: "
            "mem.reencrypt() encrypts such values)",
            key=key,
            scope=scope,
        )
    return decode_value(codec, vtype, payload, key=key)


def crypto_of(encryption_key: object, encrypt_names: object) -> Crypto | None:
    """A Memory's ciphers from its options (None: no encryption)."""
    if not isinstance(encrypt_names, bool):
        raise ConfigurationError("encrypt_names is True or False")
    if encryption_key is None:
        if encrypt_names:
            raise ConfigurationError("encrypt_names needs an encryption_key")
        return None
    return Crypto(Keyring.of(encryption_key), encrypt_names=encrypt_names)
