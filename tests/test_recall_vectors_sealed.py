"""Recall vectors encrypted at rest: with encryption, each stored vector is its quantised
vector XOR an AES-256-CTR keystream (the IV its record's nonce) and the sealed record holds a
tag of it, so that stored bytes say nothing, results stay the same, an altered or moved
vector fails when its item is opened, rotation encrypts vectors again, and an index written
without a key is scored and then migrated. Both scoring paths, on every engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyredmem import DecryptionError, Keyring, Memory, _embed
from pyredmem._crypto import Crypto, _derive, fingerprint, key_id_of
from pyredmem._ops import recall as ops

K1, K2 = bytes(range(32)), bytes(range(100, 132))
OLD = Keyring({"old": K1}, primary="old")
NEW = Keyring({"old": K1, "new": K2}, primary="new", names="old")
NEW_ONLY = Keyring({"new": K2}, primary="new", names="new")

NOTES = [
    "Alice is allergic to peanuts",
    "Alice's favourite colour is green",
    "Alice works as a nurse at the Lyon hospital",
    "Alice has a cat called Miso",
    "Alice plays the cello on Sundays",
    "Alice runs a marathon every spring",
]
QUERIES = ["which instrument does Alice play?", "peanuts allergy", "cat", "Lyon nurse"]


@pytest.fixture(params=["numpy", "plain"])
def scoring(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both scoring paths: numpy (when installed) and plain Python."""
    if request.param == "plain":
        monkeypatch.setattr(_embed, "NUMPY", None)
    elif _embed.NUMPY is None:
        pytest.skip("numpy is not installed")
    yield request.param


def _fill(mem: Memory, scope: str = "alice") -> Any:
    rec = mem.user(scope).recall
    rec.add_many(
        [{"text": t, "id": f"n{i}", "meta": {"i": i}} for i, t in enumerate(NOTES[:4])],
        kind="note",
    )
    return rec


def _more(rec: Any) -> None:
    """Items added after a first search: the cache takes them as a delta."""
    rec.add(NOTES[4], id="n4", kind="hobby")
    rec.add(NOTES[5], id="n5", meta={"src": "chat"})


def _results(rec: Any) -> list[Any]:
    out = []
    for q in QUERIES:
        hits = rec.search(q, k=10)  # all of them; ties (0.0) in any order: sorted
        out.append(sorted(((-h.score, h.id, h.text, h.kind, h.meta) for h in hits), key=str))
        out.append([h.id for h in rec.search(q, k=2, kind="note", min_score=0.05)])
    return out


def _field(mem: Memory, rec: Any, item_id: str) -> bytes:
    value: bytes = mem.client.hget(rec._store.keys[0], "i:" + rec._store.stored(item_id))
    return value


def _vector(mem: Memory, rec: Any, item_id: str) -> bytes:
    return _field(mem, rec, item_id)[: rec._store.vbytes]


def _key_id(mem: Memory, rec: Any, item_id: str) -> str | None:
    parts = ops.split_item(_field(mem, rec, item_id), rec._store.vbytes)
    assert parts is not None
    return key_id_of(parts[1])


def _quantised(rec: Any, text: str) -> bytes:
    (v,) = _embed.embed_texts(rec._store.embedder, [text], "t")
    return _embed.encode_vector(rec._store.format, v)


def test_vectors_are_encrypted_and_results_unchanged(url: str, scoring: str) -> None:
    with (
        Memory(url, namespace="plain") as plain,
        Memory(url, namespace="sealed", encryption_key=K1) as sealed,
    ):
        a, b = _fill(plain), _fill(sealed)
        assert _results(a) == _results(b)  # a cache loaded whole
        _more(a)
        _more(b)
        assert _results(a) == _results(b)  # and one taking deltas
        with Memory(url, namespace="sealed", encryption_key=K1) as cold:
            assert _results(cold.user("alice").recall) == _results(a)
        for i, text in enumerate(NOTES):
            assert _vector(plain, a, f"n{i}") == _quantised(a, text)
            stored = _vector(sealed, b, f"n{i}")
            assert len(stored) == b._store.vbytes and stored != _quantised(b, text)
        # the same text again: a fresh nonce, other bytes
        b.add(NOTES[0], id="again")
        assert _vector(sealed, b, "again") != _vector(sealed, b, "n0")
        assert [h.id for h in b.search(NOTES[0], k=2)] in (["n0", "again"], ["again", "n0"])
        assert b.get("n3").text == NOTES[3]  # type: ignore[union-attr]


def test_float16_vectors_too(url: str, scoring: str) -> None:
    with (
        Memory(url, namespace="plain") as plain,
        Memory(url, namespace="sealed", encryption_key=K1) as sealed,
    ):
        a = plain.recall(scope=plain.user("bob"), vector_format="float16")
        b = sealed.recall(scope=sealed.user("bob"), vector_format="float16")
        for rec in (a, b):
            rec.add_many([{"text": t, "id": f"n{i}"} for i, t in enumerate(NOTES)])
        assert _results(a) == _results(b)
        assert _vector(sealed, b, "n1") != _vector(plain, a, "n1")


def test_an_altered_vector_fails_when_its_item_is_opened(url: str, scoring: str) -> None:
    with Memory(url, encryption_key=K1) as mem:
        rec = _fill(mem)
        field = _field(mem, rec, "n2")
        flipped = bytes([field[7] ^ 0x01])
        mem.client.hset(rec._store.keys[0], "i:n2", field[:7] + flipped + field[8:])
        with pytest.raises(DecryptionError, match="vector failed authentication"):
            rec.get("n2")
        assert rec.get("n1").text == NOTES[1]  # type: ignore[union-attr]
    with Memory(url, encryption_key=K1) as mem:  # a cache loaded with the altered vector
        rec = mem.user("alice").recall
        with pytest.raises(DecryptionError, match="vector failed authentication"):
            rec.search("Alice", k=10)
        assert [h.id for h in rec.search("peanuts", k=1)] == ["n0"]


def test_a_moved_vector_fails(url: str, scoring: str) -> None:
    with Memory(url, encryption_key=K1) as mem:
        rec, other = _fill(mem), _fill(mem, "bob")
        vb = rec._store.vbytes
        r = rec._store.keys[0]
        # another item's vector, in the same scope
        mem.client.hset(r, "i:n1", _vector(mem, rec, "n0") + _field(mem, rec, "n1")[vb:])
        # the same item's vector, from another scope
        mem.client.hset(r, "i:n2", _vector(mem, other, "n2") + _field(mem, rec, "n2")[vb:])
        # a whole field, from another scope
        mem.client.hset(r, "i:n3", _field(mem, other, "n3"))
        for item_id in ("n1", "n2", "n3"):
            with pytest.raises(DecryptionError):
                rec.get(item_id)
        assert rec.get("n0").text == NOTES[0]  # type: ignore[union-attr]
    with Memory(url, encryption_key=K1) as mem:
        _refused(mem.user("alice").recall, {"n1", "n2", "n3"})
        assert len(mem.user("bob").recall.search("Alice", k=10)) == 4


def _refused(rec: Any, ids: set[str]) -> None:
    """A search for all items raises, or leaves out `ids`: a vector decrypted with another
    item's nonce is noise, whose score may be nan (never ranked) or not (then its item is
    returned, and refuses to open)."""
    try:
        hits = rec.search("Alice", k=10)
    except DecryptionError:
        return
    assert not ids & {h.id for h in hits}


def test_rotation_encrypts_vectors_again(url: str, scoring: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        rec = _fill(old)
        _more(rec)
        before = _results(rec)
        stored = {f"n{i}": _vector(old, rec, f"n{i}") for i in range(6)}
    with Memory(url, encryption_key=NEW) as mem:
        rec = mem.user("alice").recall
        assert _results(rec) == before  # a cache of vectors under "old"
        done = mem.reencrypt()
        assert done.recall_items == done.rewritten == 6 and done.failed == 0
        for item_id, vector in stored.items():
            assert _vector(mem, rec, item_id) != vector
            assert _key_id(mem, rec, item_id) == "new"
        assert _results(rec) == before  # the cache fetched them again
        assert mem.reencrypt().rewritten == 0
    with Memory(url, encryption_key=NEW_ONLY) as new_only:
        assert _results(new_only.user("alice").recall) == before


def test_rotation_skips_an_altered_vector(url: str) -> None:
    with Memory(url, encryption_key=OLD) as old:
        rec = _fill(old)
        field = _field(old, rec, "n1")
        old.client.hset(rec._store.keys[0], "i:n1", bytes([field[0] ^ 0x80]) + field[1:])
    with Memory(url, encryption_key=NEW) as mem:
        done = mem.reencrypt()
        assert (done.recall_items, done.failed) == (3, 1)
        assert _key_id(mem, mem.user("alice").recall, "n1") == "old"


def test_a_plain_index_is_scored_then_migrated(url: str, scoring: str) -> None:
    with Memory(url) as plain:
        rec = _fill(plain)
        _more(rec)
        before = _results(rec)
        vectors = {f"n{i}": _vector(plain, rec, f"n{i}") for i in range(6)}
    with Memory(url, encryption_key=K1) as mem:
        rec = mem.user("alice").recall
        with pytest.raises(DecryptionError, match="reencrypt"):
            rec.search("cello", k=1)
        # the vectors were read as they are: the cache scores like the plain one
        cache = ops.cache_of(mem._runner, rec._store)
        query = ops.query_vector(rec._store, "cello on Sundays")
        with Memory(url) as again:
            again_rec = again.user("alice").recall
            want = [h.id for h in again_rec.search("cello on Sundays", k=3)]
            got = ops.cache_of(again._runner, again_rec._store)
        assert [got.ids[r] for r in _order(got, query)][:3] == want
        assert [cache.ids[r] for r in _order(cache, query)][:3] == want
        done = mem.reencrypt()
        assert done.migrated == done.rewritten == 6
        for item_id, vector in vectors.items():
            assert _vector(mem, rec, item_id) != vector
            assert _key_id(mem, rec, item_id) == fingerprint(K1)
        assert _results(rec) == before
    with Memory(url, encryption_key=K1) as cold:
        assert _results(cold.user("alice").recall) == before


def _order(cache: ops.RecallCache, query: list[float]) -> list[int]:
    """The cache's live rows, best first for `query` (its vectors, without opening)."""
    n = len(cache.ids)
    if cache.numpy:
        scores = [float(x) for x in cache.matrix[:n] @ _embed.NUMPY.asarray(query, "float32")]
    else:
        scores = [sum(a * b for a, b in zip(v, query, strict=True)) for v in cache.vectors]
    live = [r for r in range(n) if cache.ids[r] is not None]
    return sorted(live, key=lambda r: -scores[r])


def test_events_with_values_carry_the_item() -> None:
    """An event's record has no vector: it opens without the tag's check (see
    test_recall_events for the end to end)."""
    from pyredmem._config import Config
    from pyredmem._keys import ScopeRef

    crypto = Crypto(Keyring.of(K1))
    cfg = Config(crypto=crypto)
    store = ops.RecallStore(cfg, ScopeRef.of("user", "u"))
    blob = ops._blob(store, "a", "hello", b"note", {"n": 1})
    vectors, blobs = ops._seal_items(store, ["a"], [_quantised_store(store, "hello")], [blob])
    item = ops.event_item(cfg, store.ref, "a", b"900:" + blobs[0])
    assert (item.text, item.kind, item.meta) == ("hello", "note", {"n": 1})
    assert ops._item(store, "a", b"900:" + blobs[0], vectors[0]).text == "hello"
    with pytest.raises(DecryptionError):
        ops._item(store, "a", b"900:" + blobs[0], bytes(len(vectors[0])))


def _quantised_store(store: ops.RecallStore, text: str) -> bytes:
    (v,) = _embed.embed_texts(store.embedder, [text], "t")
    return _embed.encode_vector(store.format, v)


def test_the_keystream_is_aes_ctr_under_the_vectors_subkey() -> None:
    crypto = Crypto(Keyring({"a": K1, "b": K2}, primary="b", names="a"))
    vectors = [os.urandom(388) for _ in range(5)]
    nonces = [os.urandom(12) for _ in range(5)]
    heads = [b"\x01\x01a", b"\x01\x01b", b"\x01\x01a", b"\x01\x01b", b"\x01\x01b"]
    out = crypto.xor_vectors(heads, nonces, vectors)
    assert out is not None
    for head, nonce, vec, got in zip(heads, nonces, vectors, out, strict=True):
        key = _derive(K1 if head.endswith(b"a") else K2, b"vectors")
        want = Cipher(algorithms.AES(key), modes.CTR(nonce + bytes(4))).encryptor().update(vec)
        assert got == want and key != _derive(K1 if head.endswith(b"a") else K2, b"values")
    assert crypto.xor_vectors(heads, nonces, out) == vectors
    assert crypto.xor_vectors([b"\x01\x01c"], nonces[:1], vectors[:1]) is None


def test_a_cache_decrypts_mixed_rows_on_both_paths() -> None:
    """Rows sealed under two keys and a plain one, on a reload and a delta: both paths give
    the plaintext vectors."""
    from pyredmem._config import Config
    from pyredmem._keys import ScopeRef

    crypto = Crypto(Keyring({"a": K1, "b": K2}, primary="b", names="a"))
    store = ops.RecallStore(Config(crypto=crypto), ScopeRef.of("user", "u"))
    items, want = [], []
    for i, text in enumerate(NOTES):
        vec = _quantised_store(store, text)
        blob = ops._blob(store, str(i), text, b"", None)
        if i % 3 == 2:
            items.append((str(i), vec, blob))
        else:
            (stored,), (sealed,) = ops._seal_items(store, [str(i)], [vec], [blob])
            items.append((str(i), stored, sealed))
        want.append(_embed.decode_vector("int8", vec))
    modes_ = [False, True] if _embed.NUMPY is not None else [False]
    for numpy in modes_:
        cache = ops.RecallCache("int8", 384, numpy=numpy, crypto=crypto)
        half = len(items) // 2
        for since, version, part in (("", "10", items[:half]), ("10", "20", items[half:])):
            reply: list[Any] = [version.encode(), b"1000", b"1" if not since else b"0", b"0"]
            reply += [b"5", len(part), b"3", *(i.encode() for i, _, _ in part)]
            reply += [v + b"900:" + blob for _, v, blob in part]
            reply.append(0)
            assert cache.apply(since, reply) is False
        for row, vec in enumerate(want):
            got = cache.matrix[row].tolist() if numpy else cache.vectors[row]
            assert got == pytest.approx(vec, abs=1e-6)
        assert cache.stored[0] == items[0][1]
