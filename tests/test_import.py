"""`import pyredmem` stays cheap: the embedded store's engine (fakeredis, lupa) and numpy
are imported only when they are used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("fakeredis", "lupa", "numpy")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {name.partition(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_import_loads_no_embedded_engine() -> None:
    loaded = _modules_after("import pyredmem")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_server_url_loads_no_embedded_engine() -> None:
    loaded = _modules_after(
        "import pyredmem\n"
        "m = pyredmem.Memory('redis://127.0.0.1:1')\n"
        "a = pyredmem.AsyncMemory('redis://127.0.0.1:1')"
    )
    assert not loaded & {"fakeredis", "lupa"}


def test_the_embedded_store_loads_it_when_used() -> None:
    loaded = _modules_after(
        "import pyredmem\n"
        "with pyredmem.Memory() as m:\n"
        "    m.user('alice').set('k', 1)\n"
        "    assert m.user('alice').get('k') == 1"
    )
    assert {"fakeredis", "lupa"} <= loaded


def test_a_fakeredis_client_counts_as_embedded() -> None:
    import fakeredis

    from pyredmem._connect import open_async, open_sync

    server = fakeredis.FakeServer()
    assert open_sync(fakeredis.FakeRedis(server=server)).embedded
    assert open_async(fakeredis.FakeAsyncRedis(server=server)).embedded
