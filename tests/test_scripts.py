"""The script registry and the packaged wheel."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pyredmem._scripts import PRELUDE, SCRIPTS, lua_dir, prelude_blocks, with_prelude

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "lua"


def test_registry_matches_the_lua_files_one_to_one() -> None:
    files = {p.stem for p in LUA.glob("*.lua")} - {PRELUDE}
    assert set(SCRIPTS) == files
    for name, script in SCRIPTS.items():
        assert script.name == name
        assert script.source.endswith((LUA / f"{name}.lua").read_text(encoding="utf-8"))


def test_every_script_states_its_contract() -> None:
    for path in LUA.glob("*.lua"):
        if path.stem == PRELUDE:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith(f"-- {path.stem}:"), path.name
        header = "\n".join(line for line in lines if line.startswith("--"))
        for part in ("KEYS", "ARGV", "Reply", "Cost"):
            assert part in header, f"{path.name} header lacks {part}"


def test_lua_assigns_no_globals_and_uses_no_missing_libraries() -> None:
    assignment = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*=[^=]")
    for path in LUA.glob("*.lua"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("--")[0]
            m = assignment.match(code)
            if m:  # a bare assignment must target a local declared earlier in the file
                declared = re.search(
                    rf"local[^\n]*\b{re.escape(m.group(1).split('.')[0])}\b",
                    path.read_text(encoding="utf-8"),
                )
                assert declared, f"{path.name}:{n} assigns a global: {line.strip()}"
            assert not re.search(r"\b(cmsgpack|cjson|struct|bit)\.", code), f"{path.name}:{n}"


def test_prelude_inclusion_is_by_use() -> None:
    blocks = prelude_blocks(
        "local A = 1\n\nlocal function b()\n  return A\nend\n\n"
        "local function c()\n  return 2\nend\n"
    )
    assert list(blocks) == ["A", "b", "c"]
    source = with_prelude("return b()", blocks)
    assert "local A = 1" in source and "local function b" in source
    assert "local function c" not in source
    assert source.index("local A") < source.index("local function b")


def test_scripts_are_found_in_a_checkout() -> None:
    assert lua_dir() in (LUA, ROOT / "pyredmem" / "lua")


@pytest.mark.slow
def test_the_wheel_ships_every_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("pyredmem-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in LUA.glob("*.lua"):
        assert f"pyredmem/lua/{path.name}" in names
    assert "pyredmem/py.typed" in names
