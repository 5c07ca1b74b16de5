"""The LangGraph store (pyredmem.integrations.langgraph) against langgraph itself: its
`BaseStore` interface, the same answers as LangGraph's own InMemoryStore for gets, puts,
deletes, filtered searches and namespace listings, pagination, TTLs with refresh on read,
semantic search through pyredmem's recall, and a graph that remembers a user's facts across
threads."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypedDict

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from pyredmem import (
    AsyncMemory,
    CapacityError,
    HashingEmbedder,
    InvalidValueError,
    Memory,
    ScopeRef,
)
from pyredmem.integrations.langgraph import MAX_INDEXED_PATHS, PyRedMemStore

PUTS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("memories", "alice"), "food", {"text": "likes jazz and ramen", "n": 1, "tags": ["a"]}),
    (("memories", "alice"), "home", {"text": "lives in Lyon", "n": 2, "where": {"city": "Lyon"}}),
    (("memories", "bob"), "food", {"text": "vegetarian", "n": 3}),
    (("memories", "bob", "work"), "job", {"text": "a baker", "n": 4, "where": {"city": "Oslo"}}),
    (("prefs", "alice"), "tone", {"text": "concise", "n": 5}),
    (("odd/label", "{braces}", "ünï", "%n"), "k/ey {x}", {"n": 6}),
]


def _both(mem: Memory) -> list[BaseStore]:
    stores: list[BaseStore] = [PyRedMemStore(mem), InMemoryStore()]
    for store in stores:
        for ns, key, value in PUTS:
            store.put(ns, key, value)
    return stores


def _keys(items: list[Any]) -> list[tuple[tuple[str, ...], str]]:
    return sorted((tuple(i.namespace), i.key) for i in items)


def test_it_is_a_langgraph_store(mem: Memory) -> None:
    store = PyRedMemStore(mem)
    assert isinstance(store, BaseStore) and store.supports_ttl
    assert not PyRedMemStore.__abstractmethods__
    with pytest.raises(TypeError):
        PyRedMemStore(mem.user("x"))  # type: ignore[arg-type]


def test_answers_as_langgraph_in_memory_store(mem: Memory) -> None:
    ours, theirs = _both(mem)
    for ns, key, value in PUTS:
        got, want = ours.get(ns, key), theirs.get(ns, key)
        assert got is not None and want is not None
        assert (got.value, got.key, got.namespace) == (want.value, want.key, want.namespace)
        assert got.value == value
    assert ours.get(("memories", "alice"), "nope") is None
    assert ours.get(("nowhere",), "food") is None
    for kw in (
        {},
        {"prefix": ("memories",)},
        {"suffix": ("alice",)},
        {"prefix": ("memories", "*")},
        {"max_depth": 1},
        {"max_depth": 2, "prefix": ("memories",)},
        {"limit": 2, "offset": 1},
    ):
        assert ours.list_namespaces(**kw) == theirs.list_namespaces(**kw), kw
    for prefix, filter in (
        (("memories",), None),
        (("memories", "alice"), None),
        ((), {"n": {"$gte": 2, "$lt": 5}}),
        ((), {"where": {"city": "Lyon"}}),
        ((), {"tags": ["a"]}),
        ((), {"n": {"$ne": 1}}),
        (("memories",), {"text": "vegetarian"}),
        (("nowhere",), None),
    ):
        got_items = ours.search(prefix, filter=filter, limit=100)
        want_items = theirs.search(prefix, filter=filter, limit=100)
        assert _keys(got_items) == _keys(want_items), (prefix, filter)
    for store in (ours, theirs):
        store.delete(("memories", "bob"), "food")
        store.put(("memories", "alice"), "home", {"text": "moved to Paris", "n": 7})
    assert ours.get(("memories", "bob"), "food") is None
    assert ours.list_namespaces(prefix=("memories",)) == [
        ("memories", "alice"),
        ("memories", "bob", "work"),  # bob's last item went: not listed
    ]
    home = ours.get(("memories", "alice"), "home")
    assert home is not None and home.value["text"] == "moved to Paris"


def test_search_pages_newest_first(mem: Memory) -> None:
    store = PyRedMemStore(mem)
    for i in range(7):
        store.put(("log",), f"k{i}", {"i": i})
    everything = [item.key for item in store.search(("log",), limit=100)]
    assert everything == [f"k{i}" for i in reversed(range(7))]
    pages = [store.search(("log",), limit=3, offset=o) for o in (0, 3, 6)]
    assert [item.key for page in pages for item in page] == everything
    assert all(item.score is None for item in pages[0])


def test_a_batch_runs_every_kind_of_operation(mem: Memory) -> None:
    from langgraph.store.base import GetOp, ListNamespacesOp, PutOp, SearchOp

    store = PyRedMemStore(mem)
    results = store.batch(
        [
            PutOp(("a",), "x", {"v": 1}),
            PutOp(("a",), "y", {"v": 2}),
            PutOp(("a",), "y", {"v": 3}),  # the last put of a key wins
            GetOp(("a",), "x"),
            PutOp(("b",), "z", {"v": 4}),
        ]
    )
    assert results[:3] == [None, None, None] and results[4] is None
    got = results[3]
    assert got is None or got.value == {"v": 1}  # read with the puts: before or after them
    results = store.batch(
        [
            GetOp(("a",), "y"),
            SearchOp(("a",), filter={"v": 3}),
            ListNamespacesOp(),
            PutOp(("a",), "x", None),
        ]
    )
    assert results[0].value == {"v": 3}
    assert [item.key for item in results[1]] == ["y"]
    assert results[2] == [("a",), ("b",)]
    assert store.get(("a",), "x") is None


def test_ttl_minutes_expiry_and_refresh_on_read(mem: Memory) -> None:
    store = PyRedMemStore(mem, ttl={"default_ttl": 10, "refresh_on_read": True})
    scope = mem.scope("actor", "t")
    store.put(("t",), "forever", {"v": 0}, ttl=None)
    store.put(("t",), "ten", {"v": 1})  # the default: 10 minutes
    store.put(("t",), "brief", {"v": 2}, ttl=0.002)  # 120 ms
    assert scope.ttl("forever") is None
    assert 599 < (scope.ttl("ten") or 0) <= 600
    time.sleep(1.1)
    assert store.get(("t",), "brief") is None
    assert 597 < (scope.ttl("ten") or 0) < 599.5
    store.get(("t",), "ten", refresh_ttl=False)
    assert (scope.ttl("ten") or 0) < 599.5
    store.get(("t",), "ten")  # refreshed
    assert (scope.ttl("ten") or 0) > 599.5
    time.sleep(1.1)
    store.search(("t",))  # a search refreshes what it returns
    assert (scope.ttl("ten") or 0) > 599.5
    assert [item.key for item in store.search(("t",))] == ["ten", "forever"]


def test_namespaces_map_to_scopes(mem: Memory) -> None:
    store = PyRedMemStore(mem, kind="user")
    store.put(("memories", "alice"), "food", {"text": "ramen"})
    assert mem.user("memories/alice").get("food")["value"] == {"text": "ramen"}
    assert mem.user("memories/alice").keys() == ["food"]
    assert ScopeRef.of("user", "memories/alice") == mem.user("memories/alice").ref


def test_the_namespace_list_outlives_the_memorys_default_ttl(url: str) -> None:
    """The namespace list's entries never expire, whatever the Memory's default_ttl: an
    item with a longer TTL of its own stays found by searches and listings."""
    with Memory(url, default_ttl=1) as mem:
        store = PyRedMemStore(mem)
        store.put(("facts", "a"), "k", {"v": 1}, ttl=10)  # ten minutes
        time.sleep(1.3)
        assert store.get(("facts", "a"), "k") is not None
        assert [i.key for i in store.search(("facts",))] == ["k"]
        assert store.list_namespaces(prefix=("facts",)) == [("facts", "a")]


def test_a_put_past_the_namespace_lists_cap_writes_nothing(url: str) -> None:
    """The namespace list holds at most max_keys_per_scope namespaces: a put to one more
    raises CapacityError and stores nothing (its item would be invisible to searches)."""
    with Memory(url, max_keys_per_scope=2) as mem:
        store = PyRedMemStore(mem)
        store.put(("a",), "k", {"v": 1})
        store.put(("b",), "k", {"v": 2})
        with pytest.raises(CapacityError):
            store.put(("c",), "k", {"v": 3})
        assert mem.scope("actor", "c").get("k") is None
        store.put(("a",), "k2", {"v": 4})  # a namespace listed already: no cap reached
        assert store.list_namespaces() == [("a",), ("b",)]


def test_abatch_over_an_async_memory_and_a_sync_one(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            store = PyRedMemStore(amem)
            await store.aput(("a",), "k", {"v": 1})
            got = await store.aget(("a",), "k")
            assert got is not None and got.value == {"v": 1}
            assert [i.key for i in await store.asearch(("a",))] == ["k"]
            assert await store.alist_namespaces() == [("a",)]
            await store.adelete(("a",), "k")
            assert await store.aget(("a",), "k") is None
            with pytest.raises(TypeError, match="abatch"):
                store.get(("a",), "k")
        with Memory(url) as mem:
            sync = PyRedMemStore(mem)
            await sync.aput(("b",), "k", {"v": 2})
            assert (await sync.aget(("b",), "k")).value == {"v": 2}  # type: ignore[union-attr]

    asyncio.run(main())


def test_semantic_search_through_recall(mem: Memory) -> None:
    store = PyRedMemStore(mem, index={"fields": ["text"]})  # the Memory's embedder
    ns = ("memories", "alice")
    store.put(ns, "music", {"text": "Alice loves jazz piano and jazz concerts"})
    store.put(ns, "city", {"text": "Alice lives in Lyon near the river"})
    store.put(ns, "skip", {"text": "jazz jazz jazz"}, index=False)  # not indexed
    hits = store.search(ns, query="jazz concerts", limit=3)
    assert hits[0].key == "music" and hits[0].score is not None
    assert hits[-1].key == "skip" and hits[-1].score is None  # unscored, after the scored
    assert [h.key for h in store.search(ns, query="which city, river", limit=1)] == ["city"]
    assert mem.scope("actor", "memories/alice").recall.info().count == 2
    store.delete(ns, "music")
    assert mem.scope("actor", "memories/alice").recall.info().count == 1
    assert "music" not in [h.key for h in store.search(ns, query="jazz", limit=5)]


def test_semantic_search_with_an_embedding_function(mem: Memory) -> None:
    def embed(texts: list[str]) -> list[list[float]]:
        return [[float(t.count(c)) for c in "aeiouxyz"] for t in texts]

    store = PyRedMemStore(mem, index={"fields": ["text"], "embed": embed, "dims": 8})
    store.put(("n",), "x", {"text": "xyzzy xyz"})
    store.put(("n",), "a", {"text": "banana"})
    assert [h.key for h in store.search(("n",), query="xxyyzz")] == ["x", "a"]


def test_query_search_with_a_filter_scores_every_indexed_match(mem: Memory) -> None:
    """A query search scores every item it returns that has vectors, however many of the
    namespace's vectors the filter leaves out (as InMemoryStore does)."""
    store = PyRedMemStore(mem, index={"fields": ["text"]})
    ns = ("memories", "alice")
    store.put(ns, "a", {"text": "jazz jazz", "t": 1})
    store.put(ns, "b", {"text": "jazz music", "t": 1})
    store.put(ns, "c", {"text": "rain in Lyon", "t": 2})
    (hit,) = store.search(ns, query="jazz", filter={"t": 2})
    assert hit.key == "c" and hit.score is not None


def test_query_search_scores_items_with_several_indexed_fields(mem: Memory) -> None:
    """An item indexed at several fields is ranked by its best one, and every such item is
    scored (they hold more vectors than there are items)."""
    store = PyRedMemStore(mem, index={"fields": ["a", "b"]})
    store.put(("n",), "x", {"a": "jazz", "b": "jazz piano"})
    store.put(("n",), "y", {"a": "rain", "b": "Lyon river"})
    hits = store.search(("n",), query="jazz")
    assert [h.key for h in hits] == ["x", "y"]
    assert all(h.score is not None for h in hits)


def test_a_delete_removes_the_vectors_of_a_puts_own_index_paths(mem: Memory) -> None:
    """A put's own `index=[...]` paths are indexed, and a delete removes those vectors
    too, not only those of the configured fields."""
    store = PyRedMemStore(mem, index={"fields": ["text"]})
    ns = ("memories", "bob")
    store.put(ns, "k", {"text": "x", "note": "likes piano"}, index=["note"])
    recall = mem.scope("actor", "memories/bob").recall
    assert recall.info().count == 1
    store.delete(ns, "k")
    assert recall.info().count == 0


def test_an_overwriting_put_removes_the_vectors_it_does_not_index(mem: Memory) -> None:
    """A put replaces the key's vectors: those of paths it no longer indexes (or has no
    text at) go, and `index=False` leaves none."""
    store = PyRedMemStore(mem, index={"fields": ["text"]})
    recall = mem.scope("actor", "n").recall
    store.put(("n",), "k", {"text": "jazz", "note": "piano"}, index=["text", "note"])
    assert recall.info().count == 2
    store.put(("n",), "k", {"text": "rain"})
    assert recall.info().count == 1
    store.put(("n",), "k", {"other": "jazz"})  # no text at "text"
    assert recall.info().count == 0
    store.put(("n",), "k", {"text": "jazz"})
    store.put(("n",), "k", {"text": "jazz"}, index=False)
    assert recall.info().count == 0
    assert store.search(("n",), query="jazz")[0].score is None


def test_a_vector_scores_only_the_put_that_wrote_it(mem: Memory) -> None:
    """A key re-put by a store without an index (which leaves the recall index alone) is
    not scored by the vectors of its earlier value."""
    indexed = PyRedMemStore(mem, index={"fields": ["text"]})
    indexed.put(("n",), "k", {"text": "jazz"})
    PyRedMemStore(mem).put(("n",), "k", {"text": "rain"})
    assert mem.scope("actor", "n").recall.info().count == 1  # the old vector is there
    (hit,) = indexed.search(("n",), query="jazz")
    assert hit.value == {"text": "rain"} and hit.score is None


def test_an_item_indexes_at_most_so_many_paths(mem: Memory) -> None:
    """More field paths with text than MAX_INDEXED_PATHS: refused, nothing written."""
    store = PyRedMemStore(mem, index={"fields": ["text"]})
    value = {f"f{i}": "text" for i in range(MAX_INDEXED_PATHS + 1)}
    with pytest.raises(InvalidValueError):
        store.put(("n",), "k", value, index=list(value))
    assert store.get(("n",), "k") is None
    store.put(("n",), "k", value, index=list(value)[:MAX_INDEXED_PATHS])
    assert mem.scope("actor", "n").recall.info().count == MAX_INDEXED_PATHS


def test_the_vectors_of_an_item_with_a_ttl_expire_with_it(mem: Memory) -> None:
    """An item's vectors get its TTL: once it has expired, so have they."""
    store = PyRedMemStore(mem, index={"fields": ["text"]})
    store.put(("t",), "k", {"text": "hello there"}, ttl=0.01)  # 0.6 s
    time.sleep(1.0)
    assert store.get(("t",), "k") is None
    assert mem.scope("actor", "t").recall.info().count == 0


def test_a_read_that_refreshes_an_item_rearms_its_vectors(mem: Memory) -> None:
    """A get that re-arms an item's TTL re-arms its vectors too (nothing embedded again):
    past the item's first expiry, it is still there and still scored; past its second,
    both are gone."""
    embedded: list[str] = []
    hashing = HashingEmbedder(64)

    def embed(texts: list[str]) -> Any:
        embedded.extend(texts)
        return hashing.embed(texts)

    store = PyRedMemStore(mem, index={"fields": ["text"], "embed": embed, "dims": 64})
    store.put(("t",), "k", {"text": "hello there"}, ttl=0.03)  # 1.8 s
    time.sleep(1.2)
    assert store.get(("t",), "k") is not None  # re-armed: 1.8 s from now
    assert embedded == ["hello there"]  # the put's, and no more
    time.sleep(1.0)  # past the first expiry, before the second
    (hit,) = store.search(("t",), query="hello", refresh_ttl=False)
    assert hit.key == "k" and hit.score is not None
    time.sleep(1.0)
    assert store.get(("t",), "k") is None
    assert mem.scope("actor", "t").recall.info().count == 0


# ----------------------------------------------------------------------------- a graph


class State(TypedDict):
    said: str
    answer: str


def _graph(store: BaseStore) -> Any:
    """A graph that records what a user says about themselves and answers from what it has
    recorded, whatever the conversation thread."""

    def remember(state: State, config: RunnableConfig, *, store: BaseStore) -> dict[str, Any]:
        user = config["configurable"]["user_id"]
        text = state["said"]
        if text.startswith("remember: "):
            fact = text.removeprefix("remember: ")
            store.put(("facts", user), f"f{len(store.search(('facts', user)))}", {"fact": fact})
            return {"answer": "noted"}
        facts = [item.value["fact"] for item in store.search(("facts", user), limit=10)]
        return {"answer": "; ".join(sorted(facts)) or "nothing yet"}

    builder = StateGraph(State)
    builder.add_node("remember", remember)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", END)
    return builder.compile(checkpointer=InMemorySaver(), store=store)


def test_a_graph_remembers_user_facts_across_threads(url: str) -> None:
    with Memory(url) as mem:
        graph = _graph(PyRedMemStore(mem))

        def say(thread: str, user: str, text: str) -> str:
            config = {"configurable": {"thread_id": thread, "user_id": user}}
            return str(graph.invoke({"said": text, "answer": ""}, config)["answer"])

        assert say("t-1", "alice", "remember: likes jazz") == "noted"
        assert say("t-1", "alice", "remember: lives in Lyon") == "noted"
        assert say("t-2", "alice", "what do you know?") == "likes jazz; lives in Lyon"
        assert say("t-3", "bob", "what do you know?") == "nothing yet"
    # another process's graph (a new Memory and store) sees the same facts
    with Memory(url) as mem:
        again = _graph(PyRedMemStore(mem))
        config = {"configurable": {"thread_id": "t-9", "user_id": "alice"}}
        out = again.invoke({"said": "what do you know?", "answer": ""}, config)
        assert out["answer"] == "likes jazz; lives in Lyon"


def test_an_async_graph_remembers_user_facts_across_threads(url: str) -> None:
    async def main() -> str:
        async with AsyncMemory(url) as amem:
            store = PyRedMemStore(amem)

            async def remember(
                state: State, config: RunnableConfig, *, store: BaseStore
            ) -> dict[str, Any]:
                user = config["configurable"]["user_id"]
                if state["said"].startswith("remember: "):
                    fact = state["said"].removeprefix("remember: ")
                    await store.aput(("facts", user), fact, {"fact": fact})
                    return {"answer": "noted"}
                found = await store.asearch(("facts", user))
                return {"answer": "; ".join(sorted(i.value["fact"] for i in found))}

            builder = StateGraph(State)
            builder.add_node("remember", remember)
            builder.add_edge(START, "remember")
            graph = builder.compile(checkpointer=InMemorySaver(), store=store)
            one = {"configurable": {"thread_id": "t-1", "user_id": "alice"}}
            two = {"configurable": {"thread_id": "t-2", "user_id": "alice"}}
            await graph.ainvoke({"said": "remember: likes jazz", "answer": ""}, one)
            out = await graph.ainvoke({"said": "what?", "answer": ""}, two)
            return str(out["answer"])

    assert asyncio.run(main()) == "likes jazz"
