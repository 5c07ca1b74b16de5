"""Embedders and vectors for recall (no I/O): the `Embedder` protocol, the default hashing
embedder, an optional offline model (`WordLlamaEmbedder`), and the compact vector formats
the recall index stores.

Vectors are unit length (cosine similarity is a dot product) and stored in one of two
formats, both little-endian:

    int8     scale (float32, 4 bytes) | d int8 components: component i is q[i] * scale
    float16  d float16 components

Scoring happens on the client, with numpy when it is installed and in plain Python
otherwise (the same scores, to float rounding).
"""

from __future__ import annotations

import math
import re
import struct
import zlib
from array import array
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ._errors import ConfigurationError, InvalidValueError, shown


def __getattr__(name: str) -> Any:
    """`NUMPY`: numpy when it is installed (scoring is much faster with it), else None.
    Imported on first use, not with pyredmem: numpy alone takes longer to import than all
    of pyredmem."""
    if name != "NUMPY":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        import numpy
    except ImportError:  # pragma: no cover - the plain path is tested by forcing it
        numpy = None  # type: ignore[assignment]
    globals()["NUMPY"] = numpy
    return numpy


__all__ = [
    "FORMATS",
    "Embedder",
    "HashingEmbedder",
    "WordLlamaEmbedder",
    "check_embedder",
    "decode_vector",
    "embed_texts",
    "encode_vector",
    "vector_bytes",
]

FORMATS = ("int8", "float16")
_SCALE = struct.Struct("<f")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors of `dimension` floats. `name` identifies the model (and its
    settings): a recall index keeps the name and dimension of the embedder that filled it,
    and refuses another's vectors. Vectors need not be normalised."""

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Sequence[Sequence[float]]: ...


def check_embedder(embedder: object) -> Embedder:
    """`embedder` if it looks like one (a name without '|', a dimension from 1 to 8192)."""
    if not isinstance(embedder, Embedder):
        raise ConfigurationError(
            "embedder needs a name, a dimension and embed(texts) -> vectors, "
            f"not {type(embedder).__name__}"
        )
    name, dim = embedder.name, embedder.dimension
    if not isinstance(name, str) or not name or "|" in name or len(name) > 200:
        raise ConfigurationError(f"an embedder's name is 1-200 characters without '|': {name!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 8192:
        raise ConfigurationError(f"an embedder's dimension is from 1 to 8192, got {shown(dim)}")
    return embedder


def embed_texts(embedder: Embedder, texts: Sequence[str], scope: str) -> list[list[float]]:
    """The unit vectors of `texts` (a zero vector stays zero), checked: one per text, each
    of the embedder's dimension, all finite."""
    out = embedder.embed(list(texts))
    try:
        rows = [list(map(float, v)) for v in out]
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueError(
            f"the embedder {embedder.name!r} returned something other than vectors of "
            f"numbers ({type(exc).__name__}: {exc})",
            scope=scope,
        ) from exc
    if len(rows) != len(texts):
        raise InvalidValueError(
            f"the embedder {embedder.name!r} returned {len(rows)} vectors for {len(texts)} texts",
            scope=scope,
        )
    dim = embedder.dimension
    for v in rows:
        if len(v) != dim:
            raise InvalidValueError(
                f"the embedder {embedder.name!r} returned a vector of {len(v)} dimensions, "
                f"not {dim}",
                scope=scope,
            )
        if not all(map(math.isfinite, v)):
            raise InvalidValueError(
                f"the embedder {embedder.name!r} returned a vector that is not finite",
                scope=scope,
            )
        # scaled by its largest component first, so that huge components do not overflow
        top = max(map(abs, v), default=0.0)
        if top > 0:
            v[:] = [x / top for x in v]
            norm = math.sqrt(math.fsum(x * x for x in v))
            v[:] = [x / norm for x in v]
    return rows


# ---------------------------------------------------------------------------- formats


def vector_bytes(fmt: str, dim: int) -> int:
    """Bytes one stored vector takes."""
    return 4 + dim if fmt == "int8" else 2 * dim


def encode_vector(fmt: str, v: Sequence[float]) -> bytes:
    """A unit vector in a stored format."""
    if fmt == "float16":
        return struct.pack(f"<{len(v)}e", *v)
    top = max((abs(x) for x in v), default=0.0)
    if top == 0.0:
        return _SCALE.pack(0.0) + bytes(len(v))
    scale = top / 127.0
    q = array("b", [round(x / scale) for x in v])
    return _SCALE.pack(scale) + q.tobytes()


def decode_vector(fmt: str, data: bytes) -> list[float]:
    """A stored vector's components (as floats)."""
    if fmt == "float16":
        return list(struct.unpack(f"<{len(data) // 2}e", data))
    (scale,) = _SCALE.unpack_from(data)
    return [q * scale for q in array("b", data[4:])]


def decode_matrix(fmt: str, blobs: Any, dim: int, out: Any = None) -> Any:
    """numpy only: the stored vectors `blobs` (bytes each, or an (n, vector bytes) uint8
    array of them) as an (n, dim) float32 array (written into `out` when given)."""
    np = __getattr__("NUMPY")
    n = len(blobs)
    if isinstance(blobs, np.ndarray):
        raw = blobs
    else:
        raw = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    if out is None:
        out = np.empty((n, dim), dtype=np.float32)
    if fmt == "float16":
        out[...] = raw.view("<f2").reshape(n, dim)
        return out
    rows = raw.reshape(n, 4 + dim)
    scales = rows[:, :4].copy().view("<f4").reshape(n, 1)
    # bytes that are no vector (an encrypted one read without its key, or altered) may
    # overflow: their rows score inf or nan, and their items refuse to open when returned
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(rows[:, 4:].view(np.int8), scales, out=out)
    return out


# ---------------------------------------------------------------------------- hashing

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: frequent English words, left out of the word features (they say little about a topic)
_STOP = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves im ive id youre dont doesnt didnt cant wont isnt arent also get got like really
    know tell remember please thing things something anything one ok okay yes yeah""".split()
)
_SUFFIXES = ("ingly", "edly", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "ly", "s")


def _stem(word: str) -> str:
    """A crude English stem (enough to merge plurals and tenses for hashing)."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class HashingEmbedder:
    """The default embedder: deterministic, offline and dependency-free. Word stems, word
    pairs and character 3- and 4-grams of each word are hashed (CRC-32) into `dimension`
    signed buckets, weighted (1 + log of the count), and normalised. It matches texts that
    share words or word parts, not synonyms: "hiking" finds "hikes", not "trekking".
    """

    __slots__ = ("_dim", "_name")

    def __init__(self, dimension: int = 384) -> None:
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 16:
            raise ConfigurationError(f"dimension is an integer >= 16, got {shown(dimension)}")
        self._dim = dimension
        self._name = "pyredmem-hash-v1"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dim

    def __repr__(self) -> str:
        return f"HashingEmbedder(dimension={self._dim})"

    def features(self, text: str) -> dict[str, float]:
        """The weighted features of `text` (before hashing)."""
        counts: dict[str, float] = {}
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
        stems = [_stem(w) for w in words]
        for s in stems:
            counts["w" + s] = counts.get("w" + s, 0.0) + 1.0
        for a, b in zip(stems, stems[1:], strict=False):
            key = f"b{a} {b}"
            counts[key] = counts.get(key, 0.0) + 0.5
        for w in words:
            padded = f"<{w}>"
            grams = [padded[i : i + n] for n in (3, 4) for i in range(len(padded) - n + 1)]
            share = 1.0 / len(grams) if grams else 0.0
            for g in grams:
                counts["c" + g] = counts.get("c" + g, 0.0) + share
        return counts

    def embed_one(self, text: str) -> list[float]:
        v = [0.0] * self._dim
        dim = self._dim
        for feature, count in self.features(text).items():
            h = zlib.crc32(feature.encode("utf-8"))
            weight = 1.0 + math.log(count) if count >= 1.0 else count
            if h & 0x80000000:
                weight = -weight
            v[(h & 0x7FFFFFFF) % dim] += weight
        norm = math.sqrt(math.fsum(x * x for x in v))
        return [x / norm for x in v] if norm else v

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.embed_one(t) for t in texts]


class WordLlamaEmbedder:
    """WordLlama (`pip install 'pyredmem[wordllama]'`): a small static embedding model
    whose weights ship inside its wheel, loaded from there, so it never downloads anything.
    `dimension`: 64, 128 (truncations of the model's vectors) or 256 (the default)."""

    __slots__ = ("_dim", "_model")

    def __init__(self, dimension: int = 256) -> None:
        try:
            import wordllama
        except ImportError as exc:
            raise ConfigurationError(
                "WordLlamaEmbedder needs the wordllama package: pip install 'pyredmem[wordllama]'"
            ) from exc
        from pathlib import Path

        if dimension not in (64, 128, 256):
            raise ConfigurationError(f"dimension is 64, 128 or 256, got {shown(dimension)}")
        # the wheel holds the 256-dimension weights and the tokenizer in the layout of a
        # cache folder: pointing the cache there loads them without any download
        folder = Path(wordllama.__file__).parent
        self._model = wordllama.WordLlama.load(
            cache_dir=folder,
            disable_download=True,
            trunc_dim=dimension if dimension < 256 else None,
        )
        self._dim = dimension

    @property
    def name(self) -> str:
        return f"wordllama-l2-supercat-{self._dim}"

    @property
    def dimension(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Any:
        return self._model.embed(list(texts), norm=True)
