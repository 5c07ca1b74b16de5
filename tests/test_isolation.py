"""Tenants and scopes never cross: arbitrary keys and ids, written under two tenants and
several scopes, are only ever seen, listed and cleared where they were written."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyredmem import KINDS, Memory
from tests.engines import Engine

_run = itertools.count()

# ids: any text but braces and control characters (those are refused, see test_scope.py)
ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="{}"),
    min_size=1,
    max_size=24,
)
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=24)
scopes = st.tuples(st.sampled_from(KINDS[:-1]), ids) | st.just(("global", ""))
tenants = st.sampled_from(["acme", "globex"])
values = st.integers(min_value=-(2**63), max_value=2**63 - 1)
writes = st.lists(st.tuples(tenants, scopes, keys, values), min_size=1, max_size=12)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=writes)
def test_reads_listings_and_clears_stay_in_their_tenant_and_scope(
    engine: Engine, url: str, writes: list[tuple[str, tuple[str, str], str, int]]
) -> None:
    namespace = f"iso{next(_run)}"  # a fresh keyspace per example
    mems = {t: Memory(url, namespace=namespace, tenant=t) for t in ("acme", "globex")}
    try:
        expected: dict[tuple[str, str, str], dict[str, int]] = {}
        for tenant, (kind, ident), key, value in writes:
            mems[tenant].scope(kind, ident or None).set(key, value)
            expected.setdefault((tenant, kind, ident), {})[key] = value

        everywhere = {(t, k, i) for t in mems for (_, k, i) in expected}
        for where in everywhere:
            tenant, kind, ident = where
            scope = mems[tenant].scope(kind, ident or None)
            want = expected.get(where, {})
            assert scope.keys() == sorted(want)
            probe = {key for d in expected.values() for key in d}
            assert scope.get_many(probe) == want
            for key in probe:
                assert scope.exists(key) == (key in want)

        # a context binds the same ids under both tenants; each sees only its own values
        for tenant, m in mems.items():
            for (t, kind, ident), values in expected.items():
                if kind == "global":
                    continue
                ctx = m.context(**{kind: ident})
                for key, value in values.items():
                    found = ctx.resolve(key)
                    own = expected.get((tenant, kind, ident), {})
                    glob = expected.get((tenant, "global", ""), {})
                    if key in own:
                        assert found is not None and found.value == own[key]
                    elif key in glob:
                        assert found is not None and found.scope.kind == "global"
                    else:
                        assert found is None, (t, tenant, value)

        # clearing one tenant's scopes leaves the other tenant's intact
        for (tenant, kind, ident), values in expected.items():
            if tenant == "acme":
                assert mems[tenant].scope(kind, ident or None).clear() == len(values)
        for (tenant, kind, ident), values in expected.items():
            scope = mems[tenant].scope(kind, ident or None)
            assert scope.keys() == ([] if tenant == "acme" else sorted(values))
    finally:
        for m in mems.values():
            m.close()
