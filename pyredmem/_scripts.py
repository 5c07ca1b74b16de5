"""The Lua script registry: every `lua/<name>.lua` file, read once, with the parts of the
shared prelude (`lua/_prelude.lua`) it uses.

Each prelude block (separated by blank lines) defines one local; a script gets the blocks it
names, directly or through other blocks, in prelude order. Lua builds a closure for every
local function on every call, so unused helpers would cost each call time.

Scripts are found inside the installed package (`pyredmem/lua`, put there by the wheel build)
or, in a source checkout, in the top-level `lua/` folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["SCRIPTS", "Script", "lua_dir"]

PRELUDE = "_prelude"


#: what a script may do, from its header's "-- Flags:" line
FLAGS = ("no-writes", "idempotent", "once")


@dataclass(frozen=True, slots=True)
class Script:
    """One server-side operation: its name, full source (prelude included), SHA1 and flags.

    `readonly` ("-- Flags: no-writes"): it never writes, so it runs as EVALSHA_RO, which a
    write pause (CLIENT PAUSE WRITE, as in a failover) or a read-only replica lets through.
    `retry` (no-writes or "idempotent"): running it twice for one call leaves what once
    would, so a call whose reply was lost may be sent again. "once" scripts (counters,
    limiter hits, compare-and-set) are never sent twice for one call.
    """

    name: str
    source: str
    sha1: str
    readonly: bool = False
    retry: bool = False


def lua_dir() -> Path:
    packaged = Path(str(resources.files("pyredmem"))) / "lua"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "lua"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("pyredmem's Lua scripts are missing: reinstall the package")


_FLAGS = re.compile(r"^-- Flags: (\S+)$", re.MULTILINE)
_DEFINES = re.compile(r"^local (?:function )?(\w+)", re.MULTILINE)
_WORD = re.compile(r"\w+")


def prelude_blocks(prelude: str) -> dict[str, str]:
    """name -> the block defining it, in prelude order."""
    blocks = {}
    for block in re.split(r"\n\s*\n", prelude):
        names = _DEFINES.findall(block)
        if len(names) > 1:
            raise RuntimeError(f"prelude block defines {names}: one definition per block")
        if names:
            blocks[names[0]] = block.strip("\n")
    return blocks


def with_prelude(body: str, blocks: dict[str, str]) -> str:
    """`body` preceded by the prelude blocks it needs."""
    needed: set[str] = set()
    todo = [w for w in _WORD.findall(body) if w in blocks]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(w for w in _WORD.findall(blocks[name]) if w in blocks)
    parts = [text for name, text in blocks.items() if name in needed]
    return "\n\n".join([*parts, body])


def _load() -> dict[str, Script]:
    folder = lua_dir()
    blocks = prelude_blocks((folder / f"{PRELUDE}.lua").read_text(encoding="utf-8"))
    scripts = {}
    for path in sorted(folder.glob("*.lua")):
        if path.stem == PRELUDE:
            continue
        body = path.read_text(encoding="utf-8")
        flags = _FLAGS.findall(body)
        if len(flags) != 1 or flags[0] not in FLAGS:
            raise RuntimeError(f"{path.name}: its header needs one '-- Flags:' line of {FLAGS}")
        source = with_prelude(body, blocks)
        sha1 = hashlib.sha1(source.encode("utf-8")).hexdigest()
        readonly = flags[0] == "no-writes"
        scripts[path.stem] = Script(path.stem, source, sha1, readonly, flags[0] != "once")
    return scripts


#: name -> Script, for every script file
SCRIPTS: dict[str, Script] = _load()
