"""Recall: a scope's semantic index. Behaviour, bad input (which writes nothing), caps, the
embedder check, time to live, the client cache (warm, deltas, pages, a reload after the
tombstones it needs were trimmed), the plain-Python scoring path and the asyncio twin, on
every engine."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import (
    AsyncMemory,
    CapacityError,
    ConfigurationError,
    DecryptionError,
    EmbedderMismatchError,
    HashingEmbedder,
    Hit,
    InvalidKeyError,
    InvalidValueError,
    Memory,
    Message,
    PyRedMemError,
    Recall,
    RecallInfo,
    RecallItem,
    _embed,
)
from pyredmem._keys import key_slot
from pyredmem._ops import recall as ops
from tests.counting import count_replies
from tests.engines import Engine

NOTES = [
    "Alice is allergic to peanuts",
    "Alice's favourite colour is green",
    "Alice works as a nurse at the Lyon hospital",
    "Alice has a cat called Miso",
    "Alice plays the cello on Sundays",
]


def _keys(rec: Recall) -> tuple[str, ...]:
    return rec._store.keys


def _raw(mem: Memory, rec: Recall) -> tuple[Any, ...]:
    c = mem.client
    r, x, cv, t = _keys(rec)
    return (
        sorted(c.hgetall(r).items()),
        c.zrange(x, 0, -1, withscores=True),
        c.zrange(cv, 0, -1, withscores=True),
        c.zrange(t, 0, -1, withscores=True),
    )


@pytest.fixture(params=["numpy", "plain"])
def scoring(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both scoring paths: numpy (when installed) and plain Python."""
    if request.param == "plain":
        monkeypatch.setattr(_embed, "NUMPY", None)
    elif _embed.NUMPY is None:
        pytest.skip("numpy is not installed")
    yield request.param


def test_add_search_get_delete_clear(mem: Memory, scoring: str) -> None:
    rec = mem.user("alice").recall
    ids = rec.add_many(NOTES, kind="note")
    extra = rec.add("Alice runs a marathon every spring", kind="sport", meta={"src": "chat:7"})
    assert len(set(ids)) == 5 and extra not in ids

    hits = rec.search("which instrument does Alice play?", k=2)
    assert [h.text for h in hits][0] == NOTES[4]
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert all(isinstance(h, Hit) for h in hits)
    top = rec.search("peanuts allergy", k=1)[0]
    assert (top.id, top.kind, top.meta) == (ids[0], "note", None)
    assert 0.0 < top.score <= 1.0 and top.created_at > time.time() - 60

    (sport,) = rec.search("marathon", k=1, kind="sport")
    assert (sport.id, sport.meta, sport.kind) == (extra, {"src": "chat:7"}, "sport")
    assert rec.search("marathon", k=3, kind="missing") == []
    assert all(h.score >= 0.3 for h in rec.search("cat Miso", k=5, min_score=0.3))

    item = rec.get(ids[2])
    assert isinstance(item, RecallItem) and item.text == NOTES[2] and item.kind == "note"
    assert rec.get("nope") is None

    info = rec.info()
    assert info == RecallInfo("exact", 6, "pyredmem-hash-v1", 384, "int8")

    # an id given again replaces its item
    assert rec.add("Alice plays the violin", id=ids[4]) == ids[4]
    assert rec.get(ids[4]).text == "Alice plays the violin"  # type: ignore[union-attr]
    assert rec.search("violin", k=1)[0].id == ids[4]
    assert rec.info().count == 6

    assert rec.delete(ids[0], "nope") == 1
    assert rec.delete(ids[0]) == 0
    assert ids[0] not in [h.id for h in rec.search("peanuts allergy", k=10)]
    assert rec.clear() == 5
    assert rec.search("anything", k=3) == [] and rec.info().count == 0
    assert not any(mem.client.exists(k) for k in _keys(rec))


def test_keys_share_the_scope_hash_tag(mem: Memory) -> None:
    rec = mem.user("alice").recall
    rec.add("hello")
    prefix = mem.user("alice")._t.cfg.keyspace.prefix(mem.user("alice").ref)
    assert all(k.startswith(prefix + ":") for k in _keys(rec))
    assert len({key_slot(k) for k in _keys(rec)}) == 1
    assert len({key_slot(k) for k in (*_keys(rec), *mem.user("alice")._t.keys)}) == 1


def test_another_embedder_is_refused_with_the_scope(mem: Memory) -> None:
    mem.user("alice").recall.add("hello there")
    other = mem.recall(scope=mem.user("alice"), embedder=HashingEmbedder(128))
    with pytest.raises(EmbedderMismatchError) as err:
        other.add("hello again")
    assert err.value.scope == "user:alice" and "pyredmem-hash-v1|384|int8" in str(err.value)
    with pytest.raises(EmbedderMismatchError):
        other.search("hello")
    f16 = mem.recall(scope=mem.user("alice"), vector_format="float16")
    with pytest.raises(EmbedderMismatchError):
        f16.add("hello again")
    # another scope is another index; a cleared one takes any embedder
    assert mem.recall(scope=mem.user("bob"), embedder=HashingEmbedder(128)).add("hi")
    mem.user("alice").recall.clear()
    assert other.add("hello again") and other.search("hello", k=1)[0].text == "hello again"


class Fixed:
    """An embedder that returns the vectors it is given."""

    def __init__(self, vectors: dict[str, list[float]], dimension: int = 3) -> None:
        self.vectors = vectors
        self.dimension = dimension
        self.name = "fixed"

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]


def test_scores_are_cosine_similarities_on_both_formats(mem: Memory, scoring: str) -> None:
    vectors = {"x": [1.0, 0.0, 0.0], "xy": [1.0, 1.0, 0.0], "z": [0.0, 0.0, 2.0], "q": [1, 0, 0]}
    for fmt in ("int8", "float16"):
        rec = mem.recall(scope=mem.user(fmt), embedder=Fixed(vectors), vector_format=fmt)
        rec.add_many(["x", "xy", "z"])
        hits = rec.search("q", k=3)
        assert [h.text for h in hits] == ["x", "xy", "z"]
        assert [h.score for h in hits] == pytest.approx([1.0, 0.7071, 0.0], abs=0.01)
        assert [h.text for h in rec.search("q", k=5, min_score=0.5)] == ["x", "xy"]


def test_bad_input_writes_nothing(mem: Memory) -> None:
    rec = mem.user("alice").recall
    rec.add("kept", id="a")
    before = _raw(mem, rec)
    for bad in ("", None, 3):
        with pytest.raises(InvalidValueError):
            rec.add(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        rec.add("x", kind="")
    with pytest.raises(InvalidValueError):
        rec.add("x", kind="a\x00b")
    with pytest.raises(InvalidValueError):
        rec.add("x", meta=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        rec.add("x", id="")
    with pytest.raises(InvalidValueError):
        rec.add("x", ttl=0)
    with pytest.raises(InvalidValueError):
        rec.add_many([{"text": "a", "id": "d"}, {"text": "b", "id": "d"}])
    with pytest.raises(InvalidValueError):
        rec.add_many([{"text": "a", "colour": "red"}])
    with pytest.raises(InvalidValueError):
        rec.add_many(["x"] * 1001)
    with pytest.raises(InvalidValueError):
        rec.add_many([])
    with pytest.raises(InvalidValueError):
        rec.add("x" * (1024 * 1024 + 1))
    for k in (0, -1, 1001, 2.0, True):
        with pytest.raises(InvalidValueError):
            rec.search("x", k=k)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        rec.search("x", min_score=float("nan"))
    with pytest.raises(InvalidValueError):
        rec.search("")
    with pytest.raises(InvalidValueError):
        rec.delete()
    assert _raw(mem, rec) == before


def test_add_many_takes_a_collection_and_names_the_scope(mem: Memory) -> None:
    """One string (whose characters would each become an item) or anything not iterable
    is refused, writing nothing; as every refusal of `add_many`, an item's unknown field
    names the scope."""
    rec = mem.user("alice").recall
    for bad in ("hello", b"hello", 3, [{"text": "x", "colour": "red"}]):
        with pytest.raises(InvalidValueError) as info:
            rec.add_many(bad)  # type: ignore[arg-type]
        assert info.value.scope == "user:alice"
    assert rec.info().count == 0


def test_min_score_is_a_number_not_nan_nor_beyond_any_float(mem: Memory) -> None:
    """min_score may be infinite (-inf: every hit, inf: none) but not NaN, nor an integer
    too large for a float: those are InvalidValueErrors naming the scope."""
    rec = mem.user("alice").recall
    rec.add("x")
    for bad in (float("nan"), 10**400, -(10**400), "0.5", True):
        with pytest.raises(InvalidValueError) as info:
            rec.search("x", min_score=bad)  # type: ignore[arg-type]
        assert info.value.scope == "user:alice"
    assert [h.text for h in rec.search("x", min_score=float("-inf"))] == ["x"]
    assert rec.search("x", min_score=float("inf")) == []


@pytest.mark.parametrize("kind", ["", "a\x00b", 3, "k" * 65])
def test_a_bad_kind_filter_fails_before_the_query_is_embedded(mem: Memory, kind: Any) -> None:
    """(the embedder may be a paid model call)"""
    embedded: list[str] = []

    class Counting(Fixed):
        def embed(self, texts: list[str]) -> list[list[float]]:
            embedded.extend(texts)
            return super().embed(texts)

    rec = mem.recall(scope=mem.user("k"), embedder=Counting({"x": [1.0, 0, 0], "q": [1, 0, 0]}))
    rec.add("x", kind="note")
    embedded.clear()
    with pytest.raises(InvalidValueError):
        rec.search("q", kind=kind)
    assert embedded == [] and [h.text for h in rec.search("q", kind="note")] == ["x"]


def test_an_oversized_add_fails_before_the_texts_are_embedded(mem: Memory) -> None:
    embedded: list[int] = []

    class Counting(HashingEmbedder):
        def embed(self, texts: list[str]) -> list[list[float]]:
            embedded.append(len(texts))
            return super().embed(texts)

    rec = mem.recall(scope=mem.user("big"), embedder=Counting(64))
    text = "x" * (1024 * 1024 - 100)  # each under the item cap, 17 over the call's
    with pytest.raises(InvalidValueError, match="bytes of items per call"):
        rec.add_many([text] * 17)
    assert embedded == [] and rec.info().count == 0


def test_bad_options(url: str) -> None:
    with pytest.raises(ConfigurationError):
        Memory(url, recall_backend="faiss")
    with pytest.raises(ConfigurationError, match="vset"):
        Memory(url, recall_backend="vset")
    with pytest.raises(ConfigurationError):
        Memory(url, embedder="not an embedder")
    with Memory(url, recall_backend="exact") as mem:
        with pytest.raises(ConfigurationError):
            mem.recall(vector_format="float64")
        with pytest.raises(InvalidValueError):
            mem.recall(max_items=0)
        with pytest.raises(ConfigurationError):
            mem.recall(embedder=Fixed({}, dimension=0))
        wrong = mem.recall(embedder=Fixed({"a": [1.0, 2.0]}))
        with pytest.raises(InvalidValueError, match="2 dimensions"):
            wrong.add("a")
        nan = mem.recall(embedder=Fixed({"a": [1.0, float("nan"), 0.0]}))
        with pytest.raises(InvalidValueError, match="not finite"):
            nan.add("a")
        odd = mem.recall(embedder=Fixed({"a": [1.0, None, 0.0]}))  # type: ignore[list-item]
        with pytest.raises(InvalidValueError, match="vectors of numbers"):
            odd.add("a")
        assert mem.recall().info().count == 0  # nothing written
        # components as large as floats go are a direction like any (no overflow)
        huge = mem.recall(scope=mem.user("huge"), embedder=Fixed({"a": [1e300, 1e300, 0.0]}))
        huge.add("a", id="a")
        assert huge.search("a", k=1)[0].score == pytest.approx(1.0, abs=0.01)


def test_the_cap_counts_live_items_and_refuses_whole(mem: Memory) -> None:
    rec = mem.recall(scope=mem.user("alice"), max_items=3)
    rec.add_many(["a", "b"])
    before = _raw(mem, rec)
    with pytest.raises(CapacityError):
        rec.add_many(["c", "d"])
    assert _raw(mem, rec) == before
    rec.add("c")
    ids = [h.id for h in rec.search("a", k=3)]
    rec.add("a again", id=ids[0])  # a replacement adds no item
    rec.delete(ids[1])
    rec.add("d")
    assert rec.info().count == 3


def test_items_expire_from_search_and_from_redis(mem: Memory, engine: Engine) -> None:
    rec = mem.user("alice").recall
    rec.add("forever", id="keep")
    rec.add("short lived note", id="short", ttl=0.2)
    assert {h.id for h in rec.search("short lived note", k=5)} == {"keep", "short"}
    r, x, c, t = _keys(rec)
    assert mem.client.pttl(r) == -1  # the keys live as long as the longest-lived item
    time.sleep(0.3)
    assert [h.id for h in rec.search("short lived note", k=5)] == ["keep"]
    assert rec.get("short") is None and rec.info().count == 1
    rec.add("another")  # the next write purges it
    assert mem.client.hget(r, "d:short") is None and mem.client.zscore(x, "short") is None
    assert mem.client.zscore(c, "short") is None and mem.client.zscore(t, "short") is not None

    # an index of expiring items goes with its last item
    tmp = mem.user("bob").recall
    tmp.add("one", ttl=0.2)
    tmp.add("two", ttl=0.4)
    assert 0 < mem.client.pttl(_keys(tmp)[0]) <= 400
    assert all(0 < mem.client.pttl(k) <= 400 for k in _keys(tmp)[:3])
    time.sleep(0.25)
    assert [h.text for h in tmp.search("one two", k=5)] == ["two"]
    deadline = time.time() + 3
    while any(mem.client.exists(k) for k in _keys(tmp)) and time.time() < deadline:
        time.sleep(0.05)  # fakeredis expires keys as they are read
    assert not any(mem.client.exists(k) for k in _keys(tmp))
    assert tmp.search("two", k=5) == []


def test_touch_gives_live_items_a_new_expiry(url: str) -> None:
    """Without embedding again; every process's cache of the index sees the new expiry,
    and the keys expire with the last-expiring item."""
    with Memory(url) as a, Memory(url) as b:
        rec, other = a.user("alice").recall, b.user("alice").recall
        rec.add("short lived note", id="short", ttl=0.3)
        rec.add("another short one", id="other", ttl=0.3)
        assert {h.id for h in other.search("short", k=5)} == {"short", "other"}  # cached
        keys = _keys(rec)
        assert rec.touch("short", "nope", ttl=60) == 1
        assert 59_000 < a.client.pttl(keys[0]) <= 60_000
        time.sleep(0.4)
        assert [h.id for h in other.search("short", k=5)] == ["short"]
        assert rec.touch("other") == 0  # expired: not brought back
        assert rec.touch("short") == 1 and a.client.pttl(keys[0]) == -1  # ttl None: never
        assert rec.get("short") is not None
        with pytest.raises(InvalidValueError):
            rec.touch()
        with pytest.raises(InvalidValueError):
            rec.touch("short", ttl=0)
        assert other.touch("ghost") == 0 and b.user("bob").recall.touch("x") == 0


@pytest.mark.parametrize("lost", [1, 2, 3], ids=["X", "C", "T"])
def test_an_index_that_lost_a_key_is_never_served_in_part(url: str, lost: int) -> None:
    """Eviction may take any one of the index's four keys (the test deletes it): searches
    answer as for no index until the next write, which drops the index whole (a cache
    reloading from C alone would miss items; one catching up from T alone, removals)."""
    with Memory(url) as a, Memory(url) as b:
        rec, warm = a.user("alice").recall, b.user("alice").recall
        rec.add("Alice plays the cello on Sundays", id="cello")
        rec.add("Alice has a cat called Miso", id="cat")
        assert {h.id for h in warm.search("cello", k=5)} == {"cello", "cat"}
        rec.delete("cat")
        a.client.delete(_keys(rec)[lost])
        assert warm.search("cat Miso", k=5) == []  # no index, rather than part of one
        rec.add("Alice learnt the harp", id="harp")  # drops the rest: a new index
        assert [h.id for h in warm.search("Alice", k=5)] == ["harp"]
        assert rec.get("cello") is None and rec.info().count == 1
        assert all(a.client.exists(k) for k in _keys(rec))


def test_an_index_from_before_the_tombstone_marker_keeps_working(url: str) -> None:
    """An index written before T held its marker (R without field "k", T perhaps absent):
    not taken for a partial one; its next write adds the marker, with T's expiry."""
    with Memory(url) as mem:
        rec = mem.user("alice").recall
        rec.add("Alice plays the cello on Sundays", id="cello", ttl=600)
        r, x, c, t = _keys(rec)
        mem.client.hdel(r, "k")
        mem.client.delete(t)  # no removal yet: no T
        assert [h.id for h in rec.search("cello", k=1)] == ["cello"]
        rec.add("Alice has a cat called Miso", id="cat", ttl=600)
        assert rec.info().count == 2 and mem.client.hget(r, "k") == b"1"
        assert mem.client.zscore(t, "") == float("inf") and 0 < mem.client.pttl(t) <= 600_000
        mem.client.hdel(r, "k")  # again, and a delete adds it too
        mem.client.zrem(t, "")
        assert rec.delete("cat") == 1 and mem.client.hget(r, "k") == b"1"
        assert [h.id for h in rec.search("Miso cello", k=5)] == ["cello"]


def test_a_cache_never_takes_an_index_rebuilt_with_lower_versions_for_its_own(url: str) -> None:
    """An index rebuilt while the server clock stood behind (a clock step, a failover to a
    server whose clock lags) has versions below those a cache read: its creation stamp
    tells the cache to reload it, rather than wait for versions it has passed."""
    with Memory(url) as a, Memory(url) as b:
        rec, warm = a.user("alice").recall, b.user("alice").recall
        rec.add_many(NOTES[:2])
        assert len(warm.search("cello", k=5)) == 2  # warm
        version = ops.cache_of(b._runner, warm._store).version
        rec.clear()
        rec.add("Alice learnt the harp", id="harp")
        # as if the clock had stood 5 s behind: every version of the new index lower
        r, x, c, t = _keys(rec)
        low = str(int(version) - 5_000_000)
        a.client.hset(r, mapping={"g": low, "f": low, "b": low})
        a.client.zadd(c, {"harp": int(low)})
        assert [h.id for h in warm.search("Alice", k=5)] == ["harp"]


def test_a_warm_search_is_one_small_call_and_sees_other_writers(url: str) -> None:
    with Memory(url) as a, Memory(url) as b:
        rec, other = a.user("alice").recall, b.user("alice").recall
        rec.add_many(NOTES)
        rec.search("cello", k=1)
        with count_replies() as counted:
            assert rec.search("cello", k=1)[0].text == NOTES[4]
        assert counted.replies == 1
        cache = ops.cache_of(a._runner, rec._store)
        version = cache.version
        other.add("Alice learnt the harp", id="harp")
        assert rec.search("harp", k=1)[0].id == "harp"  # a delta of one item
        assert cache.version != version and len(cache) == 6
        other.delete("harp")
        assert "harp" not in [h.id for h in rec.search("harp", k=6)]
        assert len(cache) == 5
        other.clear()
        assert rec.search("cello", k=1) == [] and len(cache) == 0
        other.add("new index")
        assert [h.text for h in rec.search("index", k=3)] == ["new index"]


def test_a_delta_that_replaces_every_item_in_another_order(url: str, scoring: str) -> None:
    """A delta as long as the cache is not a reload: its items come in write order."""
    with Memory(url) as a, Memory(url) as b:
        rec, other = a.user("alice").recall, b.user("alice").recall
        ids = [f"n{i}" for i in range(len(NOTES))]
        rec.add_many([{"text": t, "id": i} for t, i in zip(NOTES, ids, strict=True)])
        assert rec.search("cello", k=1)[0].id == "n4"
        other.add_many([{"text": NOTES[j], "id": ids[j]} for j in (3, 1, 0, 2, 4)])
        for j, text in enumerate(NOTES):
            assert rec.search(text, k=1)[0].id == ids[j]


def test_pages_and_a_reload_after_tombstones_are_trimmed(
    mem: Memory, monkeypatch: pytest.MonkeyPatch, scoring: str
) -> None:
    monkeypatch.setattr(ops, "PAGE_ITEMS", 7)
    rec = mem.user("alice").recall
    texts = [f"note number {i} about topic {i % 13}" for i in range(1200)]
    ids = [i for n in range(0, 1200, 400) for i in rec.add_many(texts[n : n + 400])]
    assert rec.search("note number 17", k=1)[0].text == texts[17]
    cache = ops.cache_of(mem._runner, rec._store)
    assert len(cache) == 1200
    monkeypatch.setattr(ops, "PAGE_BYTES", 1)  # one item per page
    for n in range(0, 1100, 100):  # 1,100 tombstones: the oldest are trimmed, and the
        rec.delete(*ids[n : n + 100])  # cache, which writes do not update, must reload
    left = set(ids[1100:])
    rec.add("a late note", id="late")
    monkeypatch.setattr(ops, "PAGE_BYTES", 8 * 1024 * 1024)
    found = {h.id for h in rec.search("note number", k=200)}
    assert found == left | {"late"} and len(cache) == 101


def test_the_asyncio_api_is_the_same(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            rec = amem.user("alice").recall
            ids = await rec.add_many(NOTES)
            assert (await rec.search("cello", k=1))[0].id == ids[4]
            assert (await rec.get(ids[0])).text == NOTES[0]  # type: ignore[union-attr]
            assert (await rec.info()).count == 5
            assert await rec.delete(ids[0]) == 1
            assert await rec.clear() == 4

    asyncio.run(main())


def test_conversation_turns_are_indexed_when_asked(mem: Memory) -> None:
    user = mem.user("alice")
    plain = user.history("t-1")
    plain.append(Message("user", "I adore jazz piano"))
    assert user.recall.search("jazz", k=3) == []

    chat = user.history("t-2", recall=True)
    done = chat.extend(
        [
            Message("user", "My sister lives in Montreal", id="m1"),
            Message("assistant", "Noted: your sister is in Montreal.", id="m2"),
        ]
    )
    chat.append(Message("user", "My sister lives in Montreal", id="m1"))  # skipped
    hits = user.recall.search("where does my sister live?", k=5)
    assert {h.id for h in hits} == {"t-2:m1", "t-2:m2"}
    turn = next(h for h in hits if h.id == "t-2:m1")
    assert turn.kind == "user" and turn.meta == {"thread": "t-2", "message": "m1"}
    assert turn.created_at == pytest.approx(done.messages[0].created_at, abs=1)
    assert [h.id for h in user.recall.search("sister", k=5, kind="assistant")] == ["t-2:m2"]
    # turns long gone from the thread are still found
    chat.clear()
    assert user.recall.search("Montreal", k=1)[0].id in {"t-2:m1", "t-2:m2"}


def test_turns_recall_would_refuse_are_not_appended(mem: Memory) -> None:
    """Bad input writes nothing: a turn whose recall item is refused (its id "t:<message
    id>" past 1,024 bytes, or its record past max_value_bytes with the ids it adds) is
    refused before the append, not stored unindexed (a retry would then skip it)."""
    user = mem.user("u")
    chat = user.history("t", recall=True)
    with pytest.raises(InvalidKeyError) as info:
        chat.append(Message.user("hello there", id="m" * 1024))
    assert info.value.scope == "user:u"
    big = Message.user("x" * (1024 * 1024 - 200), id="i" * 200)  # fits the thread, not recall
    with pytest.raises(InvalidValueError):
        chat.extend([Message.user("fine", id="ok"), big])
    assert len(chat) == 0 and user.recall.info().count == 0
    chat.append(Message.user("hello there", id="m" * 1000))  # fits both
    assert len(chat) == 1 and user.recall.info().count == 1
    plain = user.history("p")  # without recall, the same long id is a message id like any
    assert plain.append(Message.user("hello there", id="m" * 1024)).messages


# ---------------------------------------------------------------------------- isolation

_names = itertools.count()
_words = st.sampled_from("apple banana cherry river mountain violin piano green red".split())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    adds=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 2), st.lists(_words, min_size=1, max_size=4)),
        min_size=1,
        max_size=12,
    ),
    query=st.lists(_words, min_size=1, max_size=3),
)
def test_no_search_returns_another_scopes_or_tenants_item(
    url: str, adds: list[tuple[int, int, list[str]]], query: list[str]
) -> None:
    run = next(_names)
    mems = [Memory(url, tenant=f"t{i}") for i in range(2)]
    try:
        kinds = ("user", "session", "user")
        owned: dict[tuple[int, int], set[str]] = {}
        for tenant, scope, words in adds:
            s = mems[tenant].scope(kinds[scope], f"s{run}" if scope < 2 else f"u{run}")
            item = s.recall.add(" ".join(words))
            owned.setdefault((tenant, scope), set()).add(item)
        for tenant in range(2):
            for scope in range(3):
                s = mems[tenant].scope(kinds[scope], f"s{run}" if scope < 2 else f"u{run}")
                found = {h.id for h in s.recall.search(" ".join(query), k=50)}
                assert found == owned.get((tenant, scope), set())
    finally:
        for m in mems:
            m.close()


def test_text_and_meta_are_sealed_with_encryption(url: str) -> None:
    key = bytes(range(32))
    with Memory(url, encryption_key=key) as mem, Memory(url) as plain:
        rec = mem.user("alice").recall
        rec.add("Alice is allergic to peanuts", id="a", meta={"secret": "yes"})
        raw = b"".join(v for v in mem.client.hgetall(_keys(rec)[0]).values())
        assert b"peanuts" not in raw and b"secret" not in raw
        assert rec.search("peanuts allergy", k=1)[0].meta == {"secret": "yes"}
        assert rec.get("a").text == "Alice is allergic to peanuts"  # type: ignore[union-attr]
        # moved to another item id: it fails to open, never reads as the other item
        r = _keys(rec)[0]
        mem.client.hset(r, "i:b", mem.client.hget(r, "i:a"))
        mem.client.zadd(_keys(rec)[1], {"b": 2**52})
        with pytest.raises(DecryptionError):
            rec.get("b")
        with pytest.raises(PyRedMemError):
            plain.user("alice").recall.get("a")


def test_erasing_a_scope_removes_its_index(mem: Memory) -> None:
    alice = mem.user("alice")
    alice.recall.add_many(NOTES)
    alice.recall.delete(alice.recall.search("cello", k=1)[0].id)  # a tombstone too
    assert all(mem.client.exists(k) for k in _keys(alice.recall))
    alice.erase()
    assert not any(mem.client.exists(k) for k in _keys(alice.recall))
    assert alice.recall.search("cello") == [] and alice.recall.info().count == 0


def test_a_memory_wide_embedder(url: str) -> None:
    with Memory(url, embedder=HashingEmbedder(128), recall_backend="exact") as mem:
        rec = mem.user("alice").recall
        rec.add("hello world")
        assert rec.info() == RecallInfo("exact", 1, "pyredmem-hash-v1", 128, "int8")
        assert mem.recall(scope=mem.user("alice")).search("hello", k=1)[0].text == "hello world"


def test_searches_in_threads_while_another_memory_writes(url: str) -> None:
    with Memory(url) as reader, Memory(url) as writer:
        rec, out = reader.user("alice").recall, writer.user("alice").recall
        out.add_many([f"seed note {i}" for i in range(50)])
        errors: list[BaseException] = []
        seen: list[int] = []

        def search() -> None:
            try:
                for _ in range(30):
                    hits = rec.search("note", k=200)
                    assert len({h.id for h in hits}) == len(hits)
                    seen.append(len(hits))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=search) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(40):
            out.add(f"new note {i}", id=f"n{i}")
            if i % 3 == 0:
                out.delete(f"n{i - 1}")
        for t in threads:
            t.join()
        assert not errors
        assert min(seen) >= 50 and max(seen) <= 90
        final = {h.id for h in rec.search("note", k=200)}
        assert len(final) == 50 + 40 - len(range(3, 40, 3))
