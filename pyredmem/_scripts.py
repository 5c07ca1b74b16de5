"""The Lua script registry: every `lua/<name>.lua` file, read once, with the shared prelude.

Scripts are found inside the installed package (`pyredmem/lua`, put there by the wheel build)
or, in a source checkout, in the top-level `lua/` folder.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["SCRIPTS", "Script", "lua_dir"]

PRELUDE = "_prelude"


@dataclass(frozen=True, slots=True)
class Script:
    """One server-side operation: its name, full source (prelude included) and SHA1."""

    name: str
    source: str
    sha1: str


def lua_dir() -> Path:
    packaged = Path(str(resources.files("pyredmem"))) / "lua"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "lua"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("pyredmem's Lua scripts are missing: reinstall the package")


def _load() -> dict[str, Script]:
    folder = lua_dir()
    prelude = (folder / f"{PRELUDE}.lua").read_text(encoding="utf-8")
    scripts = {}
    for path in sorted(folder.glob("*.lua")):
        if path.stem == PRELUDE:
            continue
        source = prelude + "\n" + path.read_text(encoding="utf-8")
        sha1 = hashlib.sha1(source.encode("utf-8")).hexdigest()
        scripts[path.stem] = Script(path.stem, source, sha1)
    return scripts


#: name -> Script, for every script file
SCRIPTS: dict[str, Script] = _load()
