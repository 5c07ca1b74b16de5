"""Facts: a bi-temporal (subject, predicate, object) store per scope. Behaviour, bad input
(which writes nothing), caps, time to live, change events, context fallback and the key
layout, on every engine."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pyredmem import (
    AsyncMemory,
    CapacityError,
    Fact,
    Facts,
    InvalidKeyError,
    InvalidScopeError,
    InvalidValueError,
    Memory,
    MissingKeyError,
    PyRedMemError,
    SerializationError,
    ValidationError,
)
from pyredmem._keys import key_slot
from pyredmem._ops.events import NOT_LOGGED
from tests.engines import Engine

UTC = dt.timezone.utc
JAN, MAR, MAY, JUN, JUL, SEP = (dt.datetime(2024, m, 1, tzinfo=UTC) for m in (1, 3, 5, 6, 7, 9))


def _raw(mem: Memory, facts: Facts) -> tuple[Any, ...]:
    """Everything the store holds (to check that a refused write wrote nothing)."""
    f, i = facts._stores[0].keys
    c = mem.client
    return (
        sorted(c.hgetall(f).items()),
        c.zrange(i, 0, -1),
        c.pttl(f) > 0,
        c.pttl(i) > 0,
    )


def _valid(history: list[Fact], at: dt.datetime) -> list[Any]:
    """The objects believed now (recorded_to None) valid at `at`."""
    return [
        f.object
        for f in history
        if f.recorded_to is None and f.valid_from <= at and (f.valid_to is None or at < f.valid_to)
    ]


# ---------------------------------------------------------------------------- single-valued


def test_a_new_object_closes_the_open_one_and_the_old_belief_stays(mem: Memory) -> None:
    facts = mem.user("alice").facts
    tokyo = facts.add("alice", "lives_in", "Tokyo", valid_from=JAN, source="chat:1")
    assert tokyo.object == "Tokyo" and tokyo.valid_from == JAN and tokyo.valid_to is None
    assert tokyo.recorded_to is None and tokyo.source == "chat:1" and tokyo.confidence is None
    osaka = facts.add("alice", "lives_in", "Osaka", valid_from=JUN, confidence=0.8)
    assert osaka.recorded_from > tokyo.recorded_from and osaka.confidence == 0.8

    assert facts.get("alice", "lives_in") == "Osaka"
    assert facts.get("alice", "lives_in", as_of=MAY) == "Tokyo"
    assert facts.get("alice", "lives_in", as_of=dt.datetime(2023, 12, 31)) is None
    assert facts.get("alice", "lives_in", "?", as_of=dt.datetime(2023, 12, 31)) == "?"
    # as believed before Osaka was recorded: Tokyo, open-ended
    assert facts.get("alice", "lives_in", as_of=JUL, known_at=tokyo.recorded_from) == "Tokyo"
    before = tokyo.recorded_from - dt.timedelta(microseconds=1)
    assert facts.get("alice", "lives_in", as_of=JUL, known_at=before) is None
    assert facts.get("alice", "lives_in", as_of=JUL, known_at=osaka.recorded_from) == "Osaka"

    history = facts.history("alice", "lives_in")
    assert [(f.object, f.valid_from, f.valid_to) for f in history] == [
        ("Tokyo", JAN, None),  # the first belief, superseded when Osaka came
        ("Osaka", JUN, None),
        ("Tokyo", JAN, JUN),  # what stands of it
    ]
    assert history[0].recorded_to == osaka.recorded_from
    assert history[1] == osaka and history[2].recorded_from == osaka.recorded_from
    assert history[2].source == "chat:1" and history[2].recorded_to is None
    assert [f.id for f in history] == sorted(f.id for f in history)


def test_claims_each_starting_after_the_last_read_as_one_write_at_a_time(mem: Memory) -> None:
    """A claim starting after every other leaves its cut of the open one implicit (one
    member per claim, no superseded record: see lua/_prelude.lua's facts layout), and every
    read, and the next write of another kind, sees the versions as if each cut were made."""
    facts = mem.user("alice").facts
    months = [dt.datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 7)]
    made = [facts.add("alice", "home", f"city {n}", valid_from=t) for n, t in enumerate(months)]
    assert [f.id for f in made] == [1, 2, 4, 6, 8, 10]  # each keeps an id for its cut's piece
    f_key, i_key = facts._stores[0].keys

    def stored() -> tuple[int, int]:
        members = [m for m in mem.client.zrange(i_key, 0, -1) if m.startswith(b"v\0")]
        return len(members), len([k for k in mem.client.hkeys(f_key) if k.startswith(b"m:")])

    assert stored() == (6, 0)
    superseded = [
        (made[n].id, f"city {n}", months[n], None, made[n + 1].recorded_from) for n in range(5)
    ]
    standing = [(made[n + 1].id + 1, f"city {n}", months[n], months[n + 1], None) for n in range(5)]
    expected = [*superseded, (10, "city 5", months[5], None, None), *standing]
    history = facts.history("alice", "home")
    got = [(f.id, f.object, f.valid_from, f.valid_to, f.recorded_to) for f in history]
    assert sorted(got) == sorted(expected)
    for n, claim in enumerate(made):  # each belief as it was when a claim was recorded
        for j, t in enumerate(months):
            when = claim.recorded_from
            assert facts.get("alice", "home", as_of=t, known_at=when) == f"city {min(j, n)}"
            assert facts.about("alice", as_of=t, known_at=when) == {"home": f"city {min(j, n)}"}
    assert facts.find("home", "city 2", as_of=months[2]) == ["alice"]
    assert facts.find("home", "city 2", as_of=months[3]) == []

    mid = dt.datetime(2024, 3, 15, tzinfo=UTC)  # another kind of write: the cuts recorded
    assert facts.retract("alice", "home", at=mid) == 1
    assert stored() == (6, 6)
    after = facts.history("alice", "home")
    ended = next(f for f in after if f.id == 7)
    assert ended.recorded_to is not None and ended.valid_to == months[3]
    assert {f for f in history if f.id != 7} <= set(after)
    assert (after[-1].id, after[-1].object, after[-1].valid_to) == (12, "city 2", mid)
    assert facts.get("alice", "home", as_of=mid) is None
    assert facts.get("alice", "home", as_of=months[1]) == "city 1"
    assert facts.get("alice", "home") == "city 5"
    assert facts.add("alice", "home", "city 6").id == 13  # and the next claim cuts again


@pytest.mark.real_server
@pytest.mark.standalone
def test_a_claim_after_one_like_it_looks_nothing_up(engine: Engine, mem: Memory) -> None:
    """The pair's head knows the open version a claim after it cuts: no lex lookup, and no
    member removed."""
    facts = mem.user("alice").facts
    facts.add("alice", "home", "A", valid_from=JAN, valid_to=SEP)
    raw = engine.raw_client()

    def lookups(call: Callable[[], Any]) -> tuple[int, int]:
        raw.config_resetstat()
        call()
        stats = raw.info("commandstats")
        return tuple(  # type: ignore[return-value]
            int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("zrange", "zrem")
        )

    assert lookups(lambda: facts.add("alice", "home", "B", valid_from=MAR)) == (1, 0)
    assert lookups(lambda: facts.add("alice", "home", "C", valid_from=MAY)) == (0, 0)
    assert lookups(lambda: facts.add("alice", "home", "D")) == (0, 0)
    assert [f.object for f in facts.history("alice", "home") if f.recorded_to is None] == [
        "A",  # what stands of each, in recording order
        "B",
        "D",
        "C",
    ]


def test_a_late_claim_ends_where_the_next_recorded_change_starts(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    facts.add("alice", "lives_in", "Osaka", valid_from=JUN)
    kyoto = facts.add("alice", "lives_in", "Kyoto", valid_from=MAR)  # learnt later
    assert kyoto.valid_to == JUN
    at = {m: facts.get("alice", "lives_in", as_of=m) for m in (JAN, MAR, MAY, JUN, SEP)}
    assert at == {JAN: "Tokyo", MAR: "Kyoto", MAY: "Kyoto", JUN: "Osaka", SEP: "Osaka"}


def test_an_interval_inside_a_claim_leaves_both_ends_standing(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    trip = facts.add("alice", "lives_in", "Sapporo", valid_from=MAR, valid_to=MAY)
    assert (trip.valid_from, trip.valid_to) == (MAR, MAY)
    got = [facts.get("alice", "lives_in", as_of=m) for m in (JAN, MAR, MAY, SEP)]
    assert got == ["Tokyo", "Sapporo", "Tokyo", "Tokyo"]
    standing = [
        (f.object, f.valid_from, f.valid_to)
        for f in facts.history("alice", "lives_in")
        if f.recorded_to is None
    ]
    assert sorted(standing, key=lambda x: x[1]) == [
        ("Tokyo", JAN, MAR),
        ("Sapporo", MAR, MAY),
        ("Tokyo", MAY, None),
    ]


def test_a_claim_starting_where_another_starts_replaces_it(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    facts.add("alice", "lives_in", "Kyoto", valid_from=JAN)
    assert facts.get("alice", "lives_in", as_of=JAN) == "Kyoto"
    assert _valid(facts.history("alice", "lives_in"), SEP) == ["Kyoto"]


def test_defaults_are_the_server_clock(mem: Memory) -> None:
    facts = mem.user("alice").facts
    server = mem.client.time() if not hasattr(mem.client, "get_nodes") else None
    fact = facts.add("alice", "mood", "curious")
    assert fact.valid_from == fact.recorded_from and fact.valid_to is None
    if server is not None:
        now = dt.datetime.fromtimestamp(server[0] + server[1] / 1e6, UTC)
        assert abs((fact.recorded_from - now).total_seconds()) < 5
    assert fact.recorded_from.tzinfo is not None
    assert facts.get("alice", "mood") == "curious"
    assert facts.get("alice", "mood", as_of=fact.recorded_from) == "curious"
    before = fact.recorded_from - dt.timedelta(microseconds=1)
    assert facts.get("alice", "mood", as_of=before) is None


def test_recording_times_strictly_increase(mem: Memory) -> None:
    facts = mem.user("alice").facts
    times = [facts.add("alice", "n", i).recorded_from for i in range(20)]
    assert times == sorted(set(times))


def test_an_identical_claim_already_believed_writes_nothing(mem: Memory) -> None:
    facts = mem.user("alice").facts
    first = facts.add("alice", "lives_in", "Tokyo", valid_from=JAN, source="a")
    again = facts.add("alice", "lives_in", "Tokyo", valid_from=MAR, source="a")  # inside it
    assert again == first
    assert len(facts.history("alice", "lives_in")) == 1
    # another source is another claim: recorded, from March on
    other = facts.add("alice", "lives_in", "Tokyo", valid_from=MAR, source="b")
    assert other.id != first.id and other.source == "b"
    assert [f.source for f in facts.history("alice", "lives_in") if f.recorded_to is None] == [
        "b",
        "a",
    ]


def test_times_may_be_dates_naive_datetimes_or_epoch_seconds(mem: Memory) -> None:
    facts = mem.user("alice").facts
    a = facts.add("alice", "x", 1, valid_from=dt.date(2024, 1, 1), valid_to=1717200000)
    assert a.valid_from == JAN and a.valid_to == JUN
    assert facts.get("alice", "x", as_of=dt.datetime(2024, 3, 1)) == 1  # naive: UTC
    assert facts.get("alice", "x", as_of=1717199999.5) == 1
    assert facts.get("alice", "x", as_of=JUN) is None
    old = facts.add("alice", "born", "Lyon", valid_from=dt.datetime(1901, 5, 4, tzinfo=UTC))
    assert old.valid_from.year == 1901
    assert facts.get("alice", "born", as_of=dt.date(1950, 1, 1)) == "Lyon"


def test_objects_are_any_value_the_codec_stores(mem: Memory) -> None:
    facts = mem.user("alice").facts
    values: list[Any] = [
        7,
        2.5,
        "text",
        b"\x00bytes",
        None,
        True,
        [1, "two"],
        {"city": "Tokyo", "since": dt.date(2024, 1, 1)},
        dt.datetime(2024, 1, 1, 12, tzinfo=UTC),
    ]
    for n, value in enumerate(values):
        assert facts.add("alice", f"p{n}", value).object == value
        assert facts.get("alice", f"p{n}", "absent") == value
        assert facts.history("alice", f"p{n}")[0].object == value
    assert facts.find("p7", {"city": "Tokyo", "since": dt.date(2024, 1, 1)}) == ["alice"]
    with pytest.raises(SerializationError):
        facts.add("alice", "p", object())


# ---------------------------------------------------------------------------- many-valued


def test_a_many_valued_predicate_keeps_several_objects(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "speaks", "en", valid_from=JAN, cardinality="many")
    facts.add("alice", "speaks", "fr", valid_from=MAR)  # the pair's cardinality holds
    facts.add("alice", "speaks", "ja", valid_from=MAY, valid_to=SEP, cardinality="many")
    assert facts.get("alice", "speaks", as_of=JAN) == ["en"]
    assert facts.get("alice", "speaks", as_of=JUN) == ["en", "fr", "ja"]
    assert facts.get("alice", "speaks") == ["en", "fr"]
    assert facts.get("alice", "speaks", as_of=dt.date(2023, 1, 1)) is None
    # the same object merges with itself, not with the others
    facts.add("alice", "speaks", "en", valid_from=MAR)
    assert facts.get("alice", "speaks", as_of=JUN) == ["en", "fr", "ja"]
    assert facts.retract("alice", "speaks", "fr", at=JUL) == 1
    assert facts.get("alice", "speaks", as_of=JUL) == ["en", "ja"]
    assert facts.get("alice", "speaks", as_of=JUN) == ["en", "fr", "ja"]
    assert facts.about("alice", as_of=JUL) == {"speaks": ["en", "ja"]}


def test_a_pair_keeps_its_cardinality(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo")
    before = _raw(mem, facts)
    with pytest.raises(InvalidValueError):
        facts.add("alice", "lives_in", "Osaka", cardinality="many")
    assert _raw(mem, facts) == before
    facts.add("alice", "lives_in", "Osaka", cardinality="one")
    facts.add("bob", "lives_in", "Paris", cardinality="many")  # per subject and predicate
    assert facts.get("bob", "lives_in") == ["Paris"]


# ---------------------------------------------------------------------------- correct


def test_correct_replaces_the_claim_valid_now_and_keeps_the_old_belief(mem: Memory) -> None:
    facts = mem.user("alice").facts
    wrong = facts.add("alice", "lives_in", "Tokio", valid_from=JAN)
    fixed = facts.correct("alice", "lives_in", "Tokyo", source="user")
    assert (fixed.valid_from, fixed.valid_to) == (JAN, None)  # the claim's whole interval
    assert facts.get("alice", "lives_in", as_of=MAR) == "Tokyo"
    assert facts.get("alice", "lives_in", as_of=MAR, known_at=wrong.recorded_from) == "Tokio"
    history = facts.history("alice", "lives_in")
    assert [(f.object, f.recorded_to is None) for f in history] == [
        ("Tokio", False),
        ("Tokyo", True),
    ]


def test_correct_a_claim_between_others(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    facts.add("alice", "lives_in", "Osaka", valid_from=MAY)
    facts.add("alice", "lives_in", "Nagoya", valid_from=SEP)
    # Osaka was wrong: it was Kobe, from May until Nagoya
    kobe = facts.correct("alice", "lives_in", "Kobe", valid_from=JUN, replacing="Osaka")
    assert (kobe.valid_from, kobe.valid_to) == (JUN, SEP)
    got = [facts.get("alice", "lives_in", as_of=m) for m in (MAR, MAY, JUN, SEP)]
    assert got == ["Tokyo", "Osaka", "Kobe", "Nagoya"]
    # the move was in March, not May: the start of Osaka's claim moves
    facts.correct("alice", "lives_in", "Osaka", valid_from=MAR, valid_to=JUN)
    got = [facts.get("alice", "lives_in", as_of=m) for m in (JAN, MAR, MAY, JUN, SEP)]
    assert got == ["Tokyo", "Osaka", "Osaka", "Kobe", "Nagoya"]


def test_correct_guards_the_object_it_replaces(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Osaka", valid_from=JAN)
    before = _raw(mem, facts)
    with pytest.raises(MissingKeyError):  # someone changed it meanwhile
        facts.correct("alice", "lives_in", "Tokyo", replacing="Tokio")
    assert _raw(mem, facts) == before
    with pytest.raises(MissingKeyError):  # nothing of it valid then
        facts.correct(
            "alice", "lives_in", "Kyoto", valid_from=dt.date(2023, 1, 1), replacing="Osaka"
        )
    assert _raw(mem, facts) == before


def test_correct_on_a_many_valued_pair(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "speaks", "en", valid_from=JAN, cardinality="many")
    facts.add("alice", "speaks", "fr", valid_from=JAN, cardinality="many")
    facts.correct("alice", "speaks", "de", replacing="fr")
    assert facts.get("alice", "speaks", as_of=MAR) == ["en", "de"]
    facts.correct("alice", "speaks", "ja")  # the whole truth: only ja
    assert facts.get("alice", "speaks") == ["ja"]


# ---------------------------------------------------------------------------- retract


def test_retract_ends_validity_and_keeps_history(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "works_at", "Acme", valid_from=JAN)
    assert facts.retract("alice", "works_at", at=JUN) == 1
    assert facts.get("alice", "works_at", as_of=MAY) == "Acme"
    assert facts.get("alice", "works_at", as_of=JUN) is None
    assert facts.get("alice", "works_at") is None
    history = facts.history("alice", "works_at")
    assert [(f.valid_to, f.recorded_to is None) for f in history] == [(None, False), (JUN, True)]
    assert facts.retract("alice", "works_at", at=JUL) == 0  # nothing valid then
    assert len(facts.history("alice", "works_at")) == 2
    assert facts.retract("nobody", "works_at") == 0


def test_retract_of_one_object_or_at_a_claims_start(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "works_at", "Acme", valid_from=JAN)
    facts.add("alice", "works_at", "Initech", valid_from=SEP)  # later: stays
    assert facts.retract("alice", "works_at", "Globex", at=MAR) == 0
    assert facts.retract("alice", "works_at", "Acme", at=JAN) == 1  # never true after all
    assert facts.get("alice", "works_at", as_of=MAR) is None
    assert facts.get("alice", "works_at", as_of=SEP) == "Initech"
    assert facts.retract("alice", "works_at") == 1  # now: Initech
    assert facts.about("alice") == {}


# ---------------------------------------------------------------------------- about, find


def test_about_gives_every_predicate_valid_then(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    facts.add("alice", "lives_in", "Osaka", valid_from=JUN)
    facts.add("alice", "pet", "cat", valid_from=MAR, cardinality="many")
    facts.add("alice", "pet", "dog", valid_from=MAY, cardinality="many")
    facts.add("alice", "job", "chef", valid_from=JAN, valid_to=MAR)
    facts.add("alicea", "job", "other", valid_from=JAN)  # a subject extending the name
    facts.add("bob", "lives_in", "Paris", valid_from=JAN)
    assert facts.about("alice") == {"lives_in": "Osaka", "pet": ["cat", "dog"]}
    assert facts.about("alice", as_of=JAN) == {"job": "chef", "lives_in": "Tokyo"}
    assert list(facts.about("alice", as_of=MAY)) == ["lives_in", "pet"]
    assert facts.about("carol") == {}


def test_find_gives_the_subjects_with_a_claim(mem: Memory) -> None:
    facts = mem.global_scope.facts
    for who, city in (("alice", "Tokyo"), ("bob", "Tokyo"), ("carol", "Paris")):
        facts.add(who, "lives_in", city, valid_from=JAN)
    moved = facts.add("bob", "lives_in", "Paris", valid_from=JUN)
    assert facts.find("lives_in", "Tokyo") == ["alice"]
    assert facts.find("lives_in", "Paris") == ["bob", "carol"]
    assert facts.find("lives_in", "Tokyo", as_of=MAR) == ["alice", "bob"]
    before = moved.recorded_from - dt.timedelta(microseconds=1)
    assert facts.find("lives_in", "Tokyo", known_at=before) == ["alice", "bob"]
    assert facts.find("lives_in", "Rome") == [] and facts.find("works_at", "Tokyo") == []


# ---------------------------------------------------------------------------- bad input


def _bad_calls() -> list[tuple[str, Callable[[Facts], Any], type[PyRedMemError]]]:
    big = "x" * 513
    return [
        ("empty subject", lambda f: f.add("", "p", 1), InvalidKeyError),
        ("empty predicate", lambda f: f.add("s", "", 1), InvalidKeyError),
        ("oversized subject", lambda f: f.add(big, "p", 1), InvalidKeyError),
        ("oversized predicate", lambda f: f.get("s", big), InvalidKeyError),
        ("control character", lambda f: f.add("s", "p\x00q", 1), InvalidKeyError),
        ("subject not a string", lambda f: f.add(7, "p", 1), InvalidKeyError),  # type: ignore[arg-type]
        ("predicate bytes", lambda f: f.retract("s", b"p"), InvalidKeyError),  # type: ignore[arg-type]
        ("lone surrogate", lambda f: f.add("s\ud800", "p", 1), InvalidKeyError),
        (
            "valid_to before",
            lambda f: f.add("s", "p", 1, valid_from=MAR, valid_to=JAN),
            InvalidValueError,
        ),
        (
            "valid_to equal",
            lambda f: f.add("s", "p", 1, valid_from=MAR, valid_to=MAR),
            InvalidValueError,
        ),
        ("valid_to before now", lambda f: f.add("s", "p", 1, valid_to=JAN), InvalidValueError),
        (
            "correct empty interval",
            lambda f: f.correct("s", "p", 1, valid_from=MAR, valid_to=MAR),
            InvalidValueError,
        ),
        ("NaN confidence", lambda f: f.add("s", "p", 1, confidence=math.nan), InvalidValueError),
        ("confidence above 1", lambda f: f.add("s", "p", 1, confidence=1.5), InvalidValueError),
        ("negative confidence", lambda f: f.add("s", "p", 1, confidence=-0.1), InvalidValueError),
        ("bool confidence", lambda f: f.add("s", "p", 1, confidence=True), InvalidValueError),
        ("text confidence", lambda f: f.add("s", "p", 1, confidence="0.5"), InvalidValueError),  # type: ignore[arg-type]
        ("unknown cardinality", lambda f: f.add("s", "p", 1, cardinality="few"), InvalidValueError),
        ("cardinality bool", lambda f: f.add("s", "p", 1, cardinality=True), InvalidValueError),  # type: ignore[arg-type]
        ("text time", lambda f: f.add("s", "p", 1, valid_from="yesterday"), InvalidValueError),
        ("NaN time", lambda f: f.add("s", "p", 1, valid_from=math.nan), InvalidValueError),
        ("infinite time", lambda f: f.get("s", "p", as_of=math.inf), InvalidValueError),
        (
            "far future",
            lambda f: f.add("s", "p", 1, valid_to=dt.datetime(3000, 1, 1)),
            InvalidValueError,
        ),
        ("far past", lambda f: f.retract("s", "p", at=dt.date(1500, 1, 1)), InvalidValueError),
        ("bool time", lambda f: f.get("s", "p", known_at=True), InvalidValueError),
        ("empty source", lambda f: f.add("s", "p", 1, source=""), InvalidValueError),
        ("source not text", lambda f: f.add("s", "p", 1, source=3), InvalidValueError),  # type: ignore[arg-type]
        ("oversized source", lambda f: f.add("s", "p", 1, source="s" * 1025), InvalidValueError),
        (
            "oversized object",
            lambda f: f.add("s", "p", b"x" * (1024 * 1024 + 1)),
            InvalidValueError,
        ),
        ("unencodable object", lambda f: f.add("s", "p", object()), SerializationError),
        (
            "unencodable replaced",
            lambda f: f.correct("s", "p", 1, replacing=object()),
            SerializationError,
        ),
        ("absent replaced", lambda f: f.correct("s", "p", 2, replacing=99), MissingKeyError),
        ("cardinality change", lambda f: f.add("s", "p", 1, cardinality="many"), InvalidValueError),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _bad_calls()])
def test_bad_input_raises_and_writes_nothing(mem: Memory, case: str) -> None:
    _, call, error = next(c for c in _bad_calls() if c[0] == case)
    facts = mem.user("alice").facts
    facts.add("s", "p", 0, valid_from=JAN, valid_to=SEP)  # something there already
    facts.add("s", "p", 3, valid_from=dt.datetime(2024, 10, 1, tzinfo=UTC))
    facts.add("s", "p", 4, valid_from=dt.datetime(2024, 11, 1, tzinfo=UTC))  # an implicit cut
    before = _raw(mem, facts)
    with pytest.raises(error) as raised:
        call(facts)
    assert isinstance(raised.value, PyRedMemError)
    if error is not MissingKeyError and error is not SerializationError:
        assert isinstance(raised.value, ValidationError)
    assert _raw(mem, facts) == before


def test_handle_options_are_checked(mem: Memory) -> None:
    for bad in ({"max_versions": 0}, {"max_facts": -1}, {"max_versions": True}, {"ttl": 0}):
        with pytest.raises(InvalidValueError):
            mem.facts(scope=mem.user("alice"), **bad)
    with pytest.raises(InvalidScopeError):
        mem.facts(scope="alice")


# ---------------------------------------------------------------------------- caps


def test_versions_per_subject_and_predicate_are_capped(mem: Memory) -> None:
    facts = mem.facts(scope=mem.user("alice"), max_versions=5)
    facts.add("alice", "lives_in", "A", valid_from=JAN)  # 1 version
    facts.add("alice", "lives_in", "B", valid_from=MAR)  # +2: B and what stands of A
    facts.add("alice", "lives_in", "C", valid_from=MAY)  # +2: 5
    before = _raw(mem, facts)
    with pytest.raises(CapacityError) as raised:
        facts.add("alice", "lives_in", "D", valid_from=JUL)
    assert "cap is 5" in str(raised.value)
    with pytest.raises(CapacityError):
        facts.retract("alice", "lives_in", at=SEP)  # would record what stands of C
    assert _raw(mem, facts) == before
    assert facts.retract("alice", "lives_in", at=MAY) == 1  # C ends where it starts: +0
    facts.add("alice", "other", 1)  # another pair has room
    assert facts.get("alice", "lives_in", as_of=JUL) is None


def test_versions_per_scope_are_capped(mem: Memory) -> None:
    facts = mem.facts(scope=mem.user("alice"), max_facts=3)
    for n in range(3):
        facts.add(f"s{n}", "p", n)
    before = _raw(mem, facts)
    with pytest.raises(CapacityError) as raised:
        facts.add("s9", "p", 9)
    assert "scope holds 3" in str(raised.value)
    assert _raw(mem, facts) == before
    assert facts.add("s0", "p", 0).id == 1  # an identical claim: nothing to record
    # another scope's facts have their own cap
    mem.facts(scope=mem.user("bob"), max_facts=3).add("s9", "p", 9)
    assert facts.clear() == 3
    facts.add("s9", "p", 9)


# ---------------------------------------------------------------------------- keys, ttl


def test_facts_live_in_two_keys_under_the_scope_hash_tag(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo")
    facts.add("alice", "lives_in", "Osaka")
    keys = sorted(k.decode() for k in mem.client.scan_iter(match="pm:*"))
    assert keys == ["pm:{:user:alice}:f", "pm:{:user:alice}:fi"]
    assert len({key_slot(k) for k in keys}) == 1
    assert mem.client.pttl(keys[0]) == -1 and mem.client.pttl(keys[1]) == -1
    assert mem.user("alice").keys() == []  # values are another matter
    assert facts.clear() == 3
    assert list(mem.client.scan_iter(match="pm:*")) == []
    assert facts.clear() == 0


def test_a_time_to_live_runs_from_the_last_write(url: str) -> None:
    with Memory(url, default_ttl=30) as mem:
        facts = mem.user("alice").facts
        facts.add("alice", "mood", "ok")
        f, i = facts._stores[0].keys
        assert 25_000 < mem.client.pttl(f) <= 30_000 and 25_000 < mem.client.pttl(i) <= 30_000
        long = mem.facts(scope=mem.user("alice"), ttl=3600)
        long.add("alice", "mood", "good")
        assert mem.client.pttl(f) > 3_000_000 and mem.client.pttl(i) > 3_000_000
    with Memory(url) as mem:  # a writer without a ttl makes them permanent
        mem.user("alice").facts.add("alice", "mood", "fine")
        assert mem.client.pttl(f) == -1 and mem.client.pttl(i) == -1
        assert mem.user("alice").facts.get("alice", "mood") == "fine"
    with Memory(url) as mem:
        short = mem.facts(scope=mem.user("bob"), ttl=0.2)
        short.add("bob", "mood", "brief")
        assert short.get("bob", "mood") == "brief"
        deadline = 50
        while short.get("bob", "mood") is not None and deadline:
            asyncio.run(asyncio.sleep(0.05))
            deadline -= 1
        assert short.get("bob", "mood") is None and short.history("bob", "mood") == []


def test_a_store_that_lost_a_key_starts_over(mem: Memory) -> None:
    facts = mem.user("alice").facts
    facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    f, i = facts._stores[0].keys
    mem.client.delete(i)  # as eviction would
    facts.add("alice", "lives_in", "Osaka", valid_from=JUN)
    assert [x.object for x in facts.history("alice", "lives_in")] == ["Osaka"]
    assert facts.get("alice", "lives_in", as_of=MAR) is None
    mem.client.delete(f)
    facts.add("alice", "pet", "cat")
    assert facts.history("alice", "lives_in") == [] and facts.about("alice") == {"pet": "cat"}


# ---------------------------------------------------------------------------- events


@pytest.fixture
def ev(url: str) -> Iterator[Memory]:
    with Memory(url, events="values") as m:
        yield m


def test_fact_writes_log_their_events(ev: Memory) -> None:
    scope = ev.user("alice")
    facts = scope.facts
    a = facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    facts.add("alice", "lives_in", "Tokyo", valid_from=MAR)  # identical: nothing
    b = facts.correct("alice", "lives_in", "Kyoto")
    with pytest.raises(InvalidValueError):
        facts.add("alice", "lives_in", "Nara", cardinality="many")  # refused: nothing
    assert facts.retract("alice", "lives_in", at=JUN) == 1
    assert facts.retract("alice", "lives_in", at=JUL) == 0  # nothing: nothing logged
    facts.clear()
    got = scope.changes(values=True)
    assert [(e.op, e.target, e.key, e.predicate) for e in got] == [
        ("add", "fact", "alice", "lives_in"),
        ("correct", "fact", "alice", "lives_in"),
        ("retract", "fact", "alice", "lives_in"),
        ("clear", "fact", None, None),
    ]
    assert [e.version for e in got[:2]] == [str(a.id), str(b.id)]
    assert [e.value for e in got] == ["Tokyo", "Kyoto", NOT_LOGGED, NOT_LOGGED]
    assert all(e.kind == "user" and e.scope == "alice" for e in got)


def test_without_events_nothing_is_logged(mem: Memory) -> None:
    mem.user("alice").facts.add("alice", "lives_in", "Tokyo")
    assert list(mem.client.scan_iter(match="*:ev")) == []


def test_events_without_values(url: str) -> None:
    with Memory(url, events=True) as mem:
        mem.user("alice").facts.add("alice", "lives_in", "Tokyo")
        (event,) = mem.user("alice").changes(values=True)
        assert event.op == "add" and event.value is NOT_LOGGED


# ---------------------------------------------------------------------------- contexts


def test_a_context_falls_back_from_the_most_specific_scope(mem: Memory) -> None:
    ctx = mem.context(session="s1", user="alice", organization="acme")
    mem.organization("acme").facts.add("alice", "role", "member")
    mem.organization("acme").facts.add("alice", "team", "search")
    mem.user("alice").facts.add("alice", "lives_in", "Tokyo")
    mem.user("alice").facts.add("alice", "role", "admin")
    ctx.facts.add("alice", "lives_in", "Osaka (this session)")  # the session's
    assert ctx.facts.get("alice", "lives_in") == "Osaka (this session)"
    assert ctx.facts.get("alice", "role") == "admin"
    assert ctx.facts.get("alice", "team") == "search"
    assert ctx.facts.get("alice", "pet", "none") == "none"
    assert ctx.facts.about("alice") == {
        "lives_in": "Osaka (this session)",
        "role": "admin",
        "team": "search",
    }
    # find: the most specific scope with an object for the subject decides
    mem.user("bob").facts.add("bob", "role", "member")  # not bound: not seen
    mem.organization("acme").facts.add("carol", "role", "member")
    assert ctx.facts.find("role", "member") == ["carol"]
    assert ctx.facts.find("role", "admin") == ["alice"]
    assert ctx.facts.find("lives_in", "Tokyo") == []
    mem.session("s1").facts.retract("alice", "lives_in")
    assert ctx.facts.get("alice", "lives_in") == "Tokyo"
    assert ctx.facts.find("lives_in", "Tokyo") == ["alice"]
    # writes: the most specific scope, or the kind named
    ctx.facts.add("alice", "team", "ads", scope="organization")
    assert mem.organization("acme").facts.get("alice", "team") == "ads"
    history = ctx.facts.history("alice", "team", scope="organization")
    assert [(f.object, f.recorded_to is None) for f in history] == [
        ("search", False),
        ("ads", True),
        ("search", True),  # what stands of it: until "ads" started
    ]
    assert ctx.facts.retract("alice", "team", scope="organization") == 1
    assert ctx.facts.correct("alice", "role", "owner", scope="user").object == "owner"
    assert ctx.facts.get("alice", "role") == "owner"
    with pytest.raises(InvalidScopeError):
        ctx.facts.add("alice", "x", 1, scope="workflow")


def test_context_facts_take_the_agent_alias(mem: Memory) -> None:
    """ "agent" is "actor" for facts as for values (`ctx.set(..., scope="agent")`)."""
    ctx = mem.context(user="alice", agent="bot")
    ctx.facts.add("alice", "greeted", True, scope="agent")
    assert mem.actor("bot").facts.get("alice", "greeted") is True
    assert len(ctx.facts.history("alice", "greeted", scope="agent")) == 1
    assert ctx.facts.retract("alice", "greeted", scope="agent") == 1


def test_context_reads_look_at_a_past_belief(mem: Memory) -> None:
    ctx = mem.context(session="s1", user="alice")
    first = mem.user("alice").facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
    mem.session("s1").facts.add("alice", "lives_in", "Osaka", valid_from=JAN)
    assert ctx.facts.get("alice", "lives_in") == "Osaka"
    assert ctx.facts.get("alice", "lives_in", known_at=first.recorded_from) == "Tokyo"
    assert ctx.facts.about("alice", known_at=first.recorded_from) == {"lives_in": "Tokyo"}
    assert ctx.facts.find("lives_in", "Tokyo", known_at=first.recorded_from) == ["alice"]
    assert ctx.facts.find("lives_in", "Tokyo") == []


def test_a_lookup_over_scopes_is_one_call_per_slot(mem: Memory, engine: Engine) -> None:
    ctx = mem.context(session="s1", user="alice", organization="acme")
    facts = ctx.facts
    slots = {key_slot(s.keys[0]) for s in facts._stores}
    assert len(facts._groups) == (len(slots) if engine.cluster else 1)


# ---------------------------------------------------------------------------- asyncio


def test_the_asyncio_api_is_the_same(url: str) -> None:
    async def main() -> None:
        async with AsyncMemory(url) as amem:
            facts = amem.user("alice").facts
            tokyo = await facts.add("alice", "lives_in", "Tokyo", valid_from=JAN)
            await facts.add("alice", "lives_in", "Osaka", valid_from=JUN)
            assert await facts.get("alice", "lives_in", as_of=MAY) == "Tokyo"
            assert await facts.about("alice") == {"lives_in": "Osaka"}
            assert await facts.find("lives_in", "Osaka") == ["alice"]
            assert len(await facts.history("alice", "lives_in")) == 3
            fixed = await facts.correct("alice", "lives_in", "Kobe", replacing="Osaka")
            assert fixed.valid_from == JUN
            assert await facts.retract("alice", "lives_in", at=JUL) == 1
            old = await facts.get("alice", "lives_in", as_of=JUL, known_at=tokyo.recorded_from)
            assert old == "Tokyo"
            ctx = amem.context(session="s1", user="alice")
            assert await ctx.facts.get("alice", "lives_in", as_of=JUN) == "Kobe"
            assert await facts.clear() > 0

    asyncio.run(main())


# ---------------------------------------------------------------------------- core (no server)


def test_calls_encode_world_times_and_parse_canned_replies() -> None:
    from pyredmem._config import Config
    from pyredmem._keys import ScopeRef
    from pyredmem._ops import facts as ops

    store = ops.FactStore(Config(), ScopeRef("user", "alice"))
    assert store.keys == ("pm:{:user:alice}:f", "pm:{:user:alice}:fi")
    call = ops.facts_add(store, "alice", "lives_in", "Tokyo", valid_from=JAN, confidence=1)
    jan = int(JAN.timestamp()) * 1_000_000 + ops.OFFSET
    assert call.args[:6] == ("alice", "lives_in", str(jan), "", "", "")
    assert call.args[7:11] == ("m", b"\xa5Tokyo", "", "1.0")
    fact = call.parse([b"000000000007", jan, ops.OPEN, 1_700_000_000_000_001, b"1"])
    assert fact == Fact(
        "alice",
        "lives_in",
        "Tokyo",
        JAN,
        None,
        dt.datetime(2023, 11, 14, 22, 13, 20, 1, tzinfo=UTC),
        None,
        None,
        1.0,
        7,
    )
    assert ops.facts_add(store, "a", "p", 1, cardinality="many").args[4] == "n"
    assert ops.facts_retract(store, "a", "p", 1).args[3] == call_digest(store, 1)


def call_digest(store: Any, value: Any) -> str:
    from pyredmem._ops import facts as ops

    return ops._object(store, value)[2]


def test_a_cluster_find_checks_the_more_specific_slots() -> None:
    from pyredmem._config import Config
    from pyredmem._keys import ScopeRef
    from pyredmem._ops import facts as ops

    cfg = Config()
    refs = [ScopeRef("session", "s1"), ScopeRef("user", "alice"), ScopeRef("global", "")]
    stores = [ops.FactStore(cfg, r) for r in refs]
    groups = ops.plan_groups(stores, per_slot=True)
    assert sorted(i for g in groups for i in g.indexes) == [0, 1, 2]
    find = ops.facts_find(stores, groups, "role", "admin", as_of=None, known_at=None)
    assert len(find.calls()) == len(groups)
    found = find.found([[(2, "bob"), (2, "carol")], [(1, "alice"), (1, "bob")]])
    assert found == {"alice": 1, "bob": 1, "carol": 2}
    checks = find.checks(found)
    # each subject is looked for in the more specific stores of the other groups only
    for call in checks:
        g = next(g for g in groups if g.keys == call.keys)
        asked = set(call.args[4:])
        assert call.args[1] == "" and all(found[s] > g.indexes[0] for s in asked)
        assert not asked & {s for s, i in found.items() if i in g.indexes}
    # carol has another object in the session: shadowed; bob's session has nothing
    assert find.subjects(found, [[(0, "carol")]]) == ["alice", "bob"]
    assert find.subjects(found, [[(1, "carol")]]) == ["alice", "bob"]  # the user's too
    assert find.subjects(found, [[(2, "alice")]]) == ["alice", "bob", "carol"]  # less specific
    single = ops.plan_groups(stores, per_slot=False)
    assert (
        len(single) == 1
        and ops.Find(stores, single, "role", "admin", as_of=None, known_at=None).checks(found) == []
    )
