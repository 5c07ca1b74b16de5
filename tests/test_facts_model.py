"""Facts against a plain-Python model of bi-temporal facts: hypothesis drives random
sequences of add / correct / retract (random world times, the recording times the calls
return), then checks get, about, find and history for random `as_of` / `known_at`, on
every engine.

The model keeps every version as a record (object, valid interval, recorded interval,
source, confidence) and answers by scanning them all: none of the store's indexes, lex
ranges or shortcuts (the current-belief path, the single-valued lookup) are in it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import Fact, Facts, InvalidValueError, Memory, MissingKeyError

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
BASE = dt.datetime(2024, 1, 1, tzinfo=UTC)
OPEN = math.inf
SUBJECTS = ("ann", "bo")
PREDICATES = ("home", "likes")  # "likes" is added as many-valued (a correct may make it one)
OBJECTS = ("x", "y", "z")
_scopes = itertools.count()


def us(t: dt.datetime) -> int:
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def at(n: int) -> dt.datetime:
    """The world time of step n (hours after BASE)."""
    return BASE + dt.timedelta(hours=n)


@dataclass
class Version:
    id: int
    s: str
    p: str
    o: str
    vf: int
    vt: float
    rf: int
    rt: int | None
    src: str | None
    conf: float | None
    claim: int  # the id of the claim whose data it carries


class Model:
    def __init__(self) -> None:
        self.versions: list[Version] = []
        self.card: dict[tuple[str, str], str] = {}
        self.last = 0

    def believed(self, s: str, p: str) -> list[Version]:
        vs = [v for v in self.versions if (v.s, v.p) == (s, p) and v.rt is None]
        return sorted(vs, key=lambda v: (v.vf, v.id))

    def _data(self, v: Version) -> tuple[str, str | None, float | None]:
        claim = next(c for c in self.versions if c.id == v.claim)
        return claim.o, claim.src, claim.conf

    def _commit(
        self,
        s: str,
        p: str,
        card: str,
        rf: int,
        cut: list[Version],
        pieces: list[Version],
        new: Version | None,
    ) -> Version | None:
        self.card[(s, p)] = card
        made = ([new] if new else []) + pieces
        for v in made:
            self.last += 1
            v.id = self.last
            v.rf = rf
        if new:
            new.claim = new.id
        for v in cut:
            v.rt = rf
        self.versions += made
        return new

    def claim(
        self,
        mode: str,
        s: str,
        p: str,
        o: str,
        vf: int | None,
        vt: int | None,
        src: str | None,
        conf: float | None,
        asked: str,
        rd: str | None,
        rf: int,
        write: bool,
    ) -> Version:
        """add / correct at recording time rf (committed only with `write`); raises as the
        store does. Returns the version recorded, or the identical one already believed."""
        if vf is not None and vt is not None and vt <= vf:
            raise InvalidValueError("empty interval")  # (refused before anything is sent)
        pair = (s, p)
        if asked and pair in self.card and self.card[pair] != asked:
            raise InvalidValueError("cardinality")
        card = self.card.get(pair) or asked or "1"
        one = card == "1"
        b = self.believed(s, p)

        def rival(v: Version) -> bool:
            if one:
                return True
            if mode == "add":
                return v.o == o
            return rd is None or v.o in (rd, o)

        if mode == "correct":
            t0 = rf if vf is None else vf
            before = [v for v in b if v.vf <= t0]
            if one:
                before = before[-1:]
            hit = [v for v in before if v.vt > t0 and (rd is None or v.o == rd)]
            if rd is not None and not hit:
                raise MissingKeyError("replaced")
            if hit:
                vf = min(v.vf for v in hit) if vf is None else vf
                vt = max(v.vt for v in hit) if vt is None else vt  # type: ignore[assignment]
        start = rf if vf is None else vf
        end: float = OPEN
        if vt is not None:
            end = vt
        else:
            later = [v.vf for v in b if rival(v) and v.vf > start]
            end = min(later, default=OPEN)
        if start >= end:
            raise InvalidValueError("empty interval")
        cut = [v for v in b if rival(v) and v.vf < end and v.vt > start]
        if len(cut) == 1:
            c = cut[0]
            if c.o == o and c.vf <= start and c.vt >= end and self._data(c) == (o, src, conf):
                return c
        pieces = []
        for c in cut:
            if c.vf < start:
                pieces.append(replace(c, vt=start, rt=None))
            if c.vt > end:
                pieces.append(replace(c, vf=int(end), rt=None))
        new = Version(0, s, p, o, start, end, rf, None, src, conf, 0)
        if write:
            self._commit(s, p, card, rf, cut, pieces, new)
        return new

    def retract(self, s: str, p: str, o: str | None, when: int, rf: int, write: bool) -> int:
        if (s, p) not in self.card:
            return 0
        card = self.card[(s, p)]
        before = [v for v in self.believed(s, p) if v.vf <= when]
        if card == "1":
            before = before[-1:]
        cut = [v for v in before if v.vt > when and (o is None or v.o == o)]
        pieces = [replace(c, vt=when, rt=None) for c in cut if c.vf < when]
        if cut and write:
            self._commit(s, p, card, rf, cut, pieces, None)
        return len(cut)

    def valid(self, s: str, p: str, a: float, k: int | None) -> list[str]:
        def believed(v: Version) -> bool:
            if k is None:
                return v.rt is None
            return v.rf <= k and (v.rt is None or v.rt > k)

        vs = [v for v in self.versions if (v.s, v.p) == (s, p) and believed(v) and v.vf <= a < v.vt]
        return [v.o for v in sorted(vs, key=lambda v: (v.vf, v.id))]

    def get(self, s: str, p: str, a: float, k: int | None) -> Any:
        objects = self.valid(s, p, a, k)
        if not objects:
            return None
        return objects[0] if self.card[(s, p)] == "1" else objects

    def history(self, s: str, p: str) -> list[tuple[Any, ...]]:
        return [
            (v.id, v.o, v.vf, v.vt, v.rf, v.rt, v.src, v.conf)
            for v in sorted(self.versions, key=lambda v: v.id)
            if (v.s, v.p) == (s, p)
        ]


def fact_row(f: Fact) -> tuple[Any, ...]:
    return (
        f.id,
        f.object,
        us(f.valid_from),
        OPEN if f.valid_to is None else us(f.valid_to),
        us(f.recorded_from),
        None if f.recorded_to is None else us(f.recorded_to),
        f.source,
        f.confidence,
    )


def version_row(v: Version) -> tuple[Any, ...]:
    return (v.id, v.o, v.vf, v.vt, v.rf, v.rt, v.src, v.conf)


def _interval(draw: Any) -> tuple[int | None, int | None]:
    vf = draw(st.sampled_from([None, *range(6)]))
    vt = draw(st.sampled_from([None, *range(1, 7)]))
    return vf, vt


@st.composite
def operations(draw: Any) -> tuple[Any, ...]:
    kind = draw(st.sampled_from(["add", "add", "correct", "retract"]))
    s = draw(st.sampled_from(SUBJECTS))
    p = draw(st.sampled_from(PREDICATES))
    o = draw(st.sampled_from(OBJECTS))
    if kind == "retract":
        when = draw(st.sampled_from([None, *range(7)]))
        return ("retract", s, p, draw(st.none() | st.just(o)), when)
    vf, vt = _interval(draw)
    src = draw(st.sampled_from([None, "a", "b"]))
    conf = draw(st.sampled_from([None, 0.5]))
    if kind == "add":
        return ("add", s, p, o, vf, vt, src, conf)
    rd = draw(st.none() | st.sampled_from(OBJECTS))
    return ("correct", s, p, o, vf, vt, src, conf, rd)


def _run(facts: Facts, model: Model, op: tuple[Any, ...], rfs: list[int]) -> None:
    """One operation on both; the recording time it used joins `rfs`."""
    proxy = (max(rfs) if rfs else us(BASE) + 10**12) + 1  # any time after all the others

    def world(n: int | None) -> int | None:
        return None if n is None else us(at(n))

    if op[0] == "retract":
        _, s, p, o, n = op
        when = world(n)
        expect = model.retract(s, p, o, proxy if when is None else when, proxy, False)
        got = facts.retract(s, p, o, at=None if n is None else at(n))
        assert got == expect, op
        if got:
            rf = max(us(f.recorded_to) for f in facts.history(s, p) if f.recorded_to is not None)
            assert rf > proxy - 1
            model.retract(s, p, o, rf if when is None else when, rf, True)
            rfs.append(rf)
        return
    mode, s, p, o, vf, vt, src, conf = op[:8]
    rd = op[8] if mode == "correct" else None
    asked = "n" if mode == "add" and p == "likes" else ""
    args = (mode, s, p, o, world(vf), world(vt), src, conf, asked, rd)
    kwargs: dict[str, Any] = {
        "valid_from": None if vf is None else at(vf),
        "valid_to": None if vt is None else at(vt),
        "source": src,
        "confidence": conf,
    }
    try:
        planned = model.claim(*args, proxy, False)  # type: ignore[arg-type]
    except (InvalidValueError, MissingKeyError) as exc:
        with pytest.raises(type(exc)):
            if mode == "add":
                facts.add(s, p, o, cardinality="many" if asked else None, **kwargs)
            else:
                facts.correct(s, p, o, replacing=rd, **kwargs)
        return
    if mode == "add":
        fact = facts.add(s, p, o, cardinality="many" if asked else None, **kwargs)
    else:
        fact = facts.correct(s, p, o, replacing=rd, **kwargs)
    if planned.id:  # already believed: nothing recorded
        assert fact_row(fact) == version_row(planned), op
        return
    rf = us(fact.recorded_from)
    assert rf > proxy - 1, op
    new = model.claim(*args, rf, True)  # type: ignore[arg-type]
    assert fact_row(fact) == version_row(new), op
    rfs.append(rf)


@st.composite
def chain_operations(draw: Any) -> tuple[Any, ...]:
    """Mostly claims of the single-valued "home" from now on (valid_from None, or after the
    others: the store leaves their cuts implicit), between other writes that record them."""
    kind = draw(st.sampled_from(["add"] * 6 + ["past", "correct", "retract"]))
    s = draw(st.sampled_from(SUBJECTS))
    o = draw(st.sampled_from(OBJECTS))
    if kind == "retract":
        when = draw(st.sampled_from([None, *range(7)]))
        return ("retract", s, "home", draw(st.none() | st.just(o)), when)
    if kind == "add":
        vf = draw(st.sampled_from([None, None, *range(6)]))
        return ("add", s, "home", o, vf, None, draw(st.sampled_from([None, "a"])), None)
    vf, vt = _interval(draw)
    if kind == "past":
        return ("add", s, "home", o, vf, vt, None, None)
    return ("correct", s, "home", o, vf, vt, None, None, draw(st.none() | st.sampled_from(OBJECTS)))


_MODEL_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_MODEL_SETTINGS
@given(ops=st.lists(operations(), min_size=1, max_size=14), data=st.data())
def test_facts_match_a_bitemporal_model(mem: Memory, ops: list[Any], data: Any) -> None:
    _check(mem, ops, data)


@_MODEL_SETTINGS
@given(ops=st.lists(chain_operations(), min_size=1, max_size=14), data=st.data())
def test_runs_of_claims_after_the_others_match_the_model(
    mem: Memory, ops: list[Any], data: Any
) -> None:
    _check(mem, ops, data)


def _check(mem: Memory, ops: list[Any], data: Any) -> None:
    """Runs `ops` on a new scope's facts and on the model, then compares every read."""
    facts = mem.user(f"model-{next(_scopes)}").facts
    model = Model()
    rfs: list[int] = []
    for op in ops:
        _run(facts, model, op, rfs)

    for s, p in itertools.product(SUBJECTS, PREDICATES):
        assert [fact_row(f) for f in facts.history(s, p)] == model.history(s, p)
    recorded = [s for s in SUBJECTS if any(model.history(s, p) for p in PREDICATES)]
    assert facts.subjects() == recorded and facts.subjects(limit=1) == recorded[:1]

    known = [None, *rfs, *(r - 1 for r in rfs)]
    world = [*range(-1, 8)]
    for _ in range(4):
        k = data.draw(st.sampled_from(known), label="known_at")
        n = data.draw(
            st.none() | st.sampled_from(world) | st.sampled_from(rfs or [0]), label="as_of"
        )
        if n is None:
            a: float = 2.0**60  # now: after every time recorded
            as_of: Any = None
        elif n in rfs:
            a, as_of = n, EPOCH + dt.timedelta(microseconds=n)
        else:
            a, as_of = us(at(n)), at(n)
        known_at = None if k is None else EPOCH + dt.timedelta(microseconds=k)
        for s, p in itertools.product(SUBJECTS, PREDICATES):
            got = facts.get(s, p, as_of=as_of, known_at=known_at)
            assert got == model.get(s, p, a, k), (s, p, as_of, known_at)
        for s in SUBJECTS:
            expect = {p: model.get(s, p, a, k) for p in PREDICATES}
            assert facts.about(s, as_of=as_of, known_at=known_at) == {
                p: v for p, v in expect.items() if v is not None
            }
        for p, o in itertools.product(PREDICATES, OBJECTS):
            expect_s = [s for s in SUBJECTS if o in model.valid(s, p, a, k)]
            assert facts.find(p, o, as_of=as_of, known_at=known_at) == expect_s, (p, o)
