"""Recall quality, with no server: the stored formats against a float32 brute force, the
labelled (memory, question) set for the default embedder and the offline model (the
README's figures), the hashing embedder's determinism, and canned sync replies."""

from __future__ import annotations

import importlib.util
import math
import random
from pathlib import Path

import pytest

from pyredmem import HashingEmbedder, WordLlamaEmbedder, _embed
from pyredmem._config import Config
from pyredmem._keys import ScopeRef
from pyredmem._ops import recall as ops

PAIRS = [
    tuple(line.split("\t"))
    for line in (Path(__file__).parent / "data" / "recall_pairs.tsv")
    .read_text(encoding="utf-8")
    .splitlines()
    if line and not line.startswith("#")
]


class Given:
    """An embedder of given vectors (the formats' test)."""

    name = "given"

    def __init__(self, vectors: dict[str, list[float]], dimension: int) -> None:
        self.vectors = vectors
        self.dimension = dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]


def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _sync_reply(store: ops.RecallStore, items: list[tuple[str, bytes, bytes]]) -> list[object]:
    """A canned full recall_sync reply holding `items` (id, vector, blob)."""
    n = len(items)
    return [
        b"200",
        b"1000",
        b"1",
        b"0",
        b"200",
        n,
        b"100",  # the index's creation stamp
        *(i.encode() for i, _, _ in items),
        *(v + b"900:" + blob for _, v, blob in items),
        0,
    ]


def _cache_of(store: ops.RecallStore, texts: list[str], numpy: bool) -> ops.RecallCache:
    vectors = _embed.embed_texts(store.embedder, texts, "t")
    items = [
        (str(i), _embed.encode_vector(store.format, v), ops._blob(store, str(i), t, b"", None))
        for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
    ]
    cache = ops.RecallCache(store.format, store.embedder.dimension, numpy=numpy)
    assert cache.apply("", _sync_reply(store, items)) is False
    return cache


def _numpy_modes() -> list[bool]:
    return [False, True] if _embed.NUMPY is not None else [False]


@pytest.mark.parametrize("fmt", ["int8", "float16"])
def test_stored_formats_agree_with_a_float32_brute_force(fmt: str) -> None:
    rnd = random.Random(7)
    dim, n_items, n_queries, k = 384, 1000, 30, 10
    centres = [_unit([rnd.gauss(0, 1) for _ in range(dim)]) for _ in range(50)]
    vectors: dict[str, list[float]] = {}
    for i in range(n_items):
        c = centres[i % 50]
        vectors[f"i{i}"] = _unit([x + rnd.gauss(0, 0.08) for x in c])
    for q in range(n_queries):
        c = centres[q % 50]
        vectors[f"q{q}"] = _unit([x + rnd.gauss(0, 0.08) for x in c])
    store = ops.RecallStore(
        Config(), ScopeRef.of("user", "u"), embedder=Given(vectors, dim), vector_format=fmt
    )
    texts = [f"i{i}" for i in range(n_items)]
    for numpy in _numpy_modes():
        cache = _cache_of(store, texts, numpy)
        found = 0
        for q in range(n_queries):
            query = vectors[f"q{q}"]
            exact = sorted(range(n_items), key=lambda i: -_dot(vectors[texts[i]], query))[:k]
            hits = ops.rank(store, cache, query, k=k, min_score=None, kind=None)
            found += len({int(h.text[1:]) for h in hits} & set(exact))
        recall_at_k = found / (n_queries * k)
        assert recall_at_k >= 0.98, (fmt, numpy, recall_at_k)


def recall_at(embedder: object, k: int, numpy: bool = False) -> float:
    """The share of the labelled questions whose memory is among the `k` best of all."""
    store = ops.RecallStore(Config(), ScopeRef.of("user", "u"), embedder=embedder)
    memories = [m for m, _ in PAIRS]
    cache = _cache_of(store, memories, numpy)
    found = 0
    for i, (_, question) in enumerate(PAIRS):
        q = ops.query_vector(store, question)
        hits = ops.rank(store, cache, q, k=k, min_score=None, kind=None)
        found += memories[i] in [h.text for h in hits]
    return found / len(PAIRS)


def test_the_labelled_set_for_the_hashing_embedder() -> None:
    assert len(PAIRS) >= 50
    r5 = recall_at(HashingEmbedder(), 5)
    print(f"hashing embedder: recall@1 {recall_at(HashingEmbedder(), 1):.2f}, recall@5 {r5:.2f}")
    assert r5 >= 0.60  # the README's figure; lexical only: paraphrases without shared words miss
    if _embed.NUMPY is not None:
        assert recall_at(HashingEmbedder(), 5, numpy=True) == r5


@pytest.mark.skipif(importlib.util.find_spec("wordllama") is None, reason="wordllama extra")
def test_the_labelled_set_for_the_offline_model() -> None:
    model = WordLlamaEmbedder()
    assert model.dimension == 256 and len(model.embed(["a", "b"])) == 2
    r5 = recall_at(model, 5)
    print(f"wordllama: recall@1 {recall_at(model, 1):.2f}, recall@5 {r5:.2f}")
    assert r5 >= 0.60


def test_the_hashing_embedder_is_deterministic_and_normalised() -> None:
    e = HashingEmbedder()
    a, b = e.embed(["Alice hikes in the Alps", "Alice hikes in the Alps"])
    assert a == b and math.isclose(sum(x * x for x in a), 1.0)
    assert e.embed([""])[0] == [0.0] * 384  # nothing to hash: a zero vector, scoring 0
    near = _dot(a, e.embed(["hiking in the Alps"])[0])
    far = _dot(a, e.embed(["quarterly tax report"])[0])
    assert near > 0.4 > 0.1 > far
    assert HashingEmbedder(64).dimension == 64


def test_canned_replies_update_a_cache() -> None:
    store = ops.RecallStore(Config(), ScopeRef.of("user", "u"))
    vec = _embed.encode_vector("int8", _embed.embed_texts(store.embedder, ["x"], "t")[0])
    blob = ops._blob(store, "a", "hello", b"note", {"n": 1})
    for numpy in _numpy_modes():
        cache = ops.RecallCache("int8", 384, numpy=numpy)
        full = [b"10", b"1000", b"1", b"0", b"10", 1, b"5", b"a", vec + b"900:" + blob, 1, 1]
        full.append(b"1500")
        assert cache.apply("", full) is False and cache.version == "10" and len(cache) == 1
        assert cache.apply("", full) is True  # a reply to a call built at another version
        item = ops._item(store, "a", cache.records[0])
        assert (item.text, item.kind, item.meta, item.created_at) == (
            "hello",
            "note",
            {"n": 1},
            0.9,
        )
        q = ops.query_vector(store, "x")
        assert [h.id for h in ops.rank(store, cache, q, k=3, min_score=None, kind=None)] == ["a"]
        cache.now = 1500.0  # the item expires at 1500 ms
        assert ops.rank(store, cache, q, k=3, min_score=None, kind=None) == []
        cache.now = 1000.0
        assert ops.rank(store, cache, q, k=3, min_score=None, kind="other") == []
        # a delta: "b" added, "a" removed; then current; then the index is gone
        delta = [b"12", b"1000", b"0", b"0", b"12", 1, b"5", b"b", vec + b"950:" + blob, 0, b"a"]
        assert cache.apply("10", delta) is False and cache.version == "12" and cache.stamp == "5"
        assert [h.id for h in ops.rank(store, cache, q, k=3, min_score=None, kind=None)] == ["b"]
        assert cache.apply("12", [b"12", b"1001"]) is False and len(cache) == 1
        assert cache.apply("12", [b"0", b"1002"]) is False and len(cache) == 0


def test_a_call_carries_what_the_script_needs() -> None:
    store = ops.RecallStore(Config(), ScopeRef.of("user", "u"), ttl=60)
    call = ops.recall_add(store, [("hello", "note", None, "a", None), ("bye", None, None, "b", 5)])
    assert call.keys == ("pm:{:user:u}:r", "pm:{:user:u}:rx", "pm:{:user:u}:rc", "pm:{:user:u}:rt")
    sig, vbytes, cap, *rest = call.args
    assert (sig, vbytes, cap) == ("pyredmem-hash-v1|384|int8", 388, ops.DEFAULT_MAX_ITEMS)
    assert rest[0::4] == ["a", "b"] and rest[1::4] == [60_000, 5_000]
    assert all(len(v) == 388 for v in rest[2::4]) and rest[3].startswith(b"note\x00")
    assert call.parse(b"1") == ["a", "b"]
