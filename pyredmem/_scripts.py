"""The Lua script registry: every `lua/<name>.lua` file, read once, in two forms.

- A Redis Functions library (`LIBRARY`): the whole prelude once, then each script as a
  function registered under a name that carries the library's content hash, so that two
  pyredmem versions run side by side during a rolling deploy. Loaded once per server
  (`FUNCTION LOAD`) and called with `FCALL`/`FCALL_RO`: the prelude's helpers are built
  once, at load, instead of on every call.
- For servers that refuse FUNCTION (an ACL, a managed service), each script as an EVAL
  source with the prelude blocks it uses (`Script.source`). Each prelude block (separated by
  blank lines) defines one local; a script gets the blocks it names outside comments,
  directly or through other blocks, in prelude order: Lua builds a closure for every local
  function on every call, so unused helpers would cost each call time.

Scripts are found inside the installed package (`pyredmem/lua`, put there by the wheel build)
or, in a source checkout, in the top-level `lua/` folder.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["LIBRARY", "SCRIPTS", "Library", "Script", "lua_dir"]

PRELUDE = "_prelude"


#: what a script may do, from its header's "-- Flags:" line; a writing script that only
#: removes adds " allow-oom" (it runs at maxmemory, where other writes are refused whole)
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
    function: str = ""  # its name in LIBRARY
    function_ro: str = ""  # the same, registered no-writes (for calls that write nothing)


@dataclass(frozen=True, slots=True)
class Library:
    """Every script as one Redis Functions library."""

    name: str
    source: str


def lua_dir() -> Path:
    packaged = Path(str(resources.files("pyredmem"))) / "lua"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "lua"
    if checkout.is_dir():
        return checkout
    raise RuntimeError("pyredmem's Lua scripts are missing: reinstall the package")


_FLAGS = re.compile(r"^-- Flags: (\S+)( allow-oom)?$", re.MULTILINE)
_DEFINES = re.compile(r"^local (?:function )?(\w+)", re.MULTILINE)
_WORD = re.compile(r"\w+")
_COMMENT = re.compile(r"""('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")|--[^\n]*""")


def code_only(lua: str) -> str:
    """`lua` without its comments (strings kept), for scanning the names it uses."""
    return _COMMENT.sub(lambda m: m.group(1) or "", lua)


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


@functools.cache
def _words(lua: str) -> frozenset[str]:
    """The words of `lua`'s code. Cached: each prelude block is scanned once, not once per
    script that uses it (that rescanning was most of the registry's share of the time
    `import pyredmem` takes)."""
    return frozenset(_WORD.findall(code_only(lua)))


@functools.cache
def _names(blocks: tuple[tuple[str, str], ...]) -> dict[str, frozenset[str]]:
    """Block name -> the blocks its code names (once per prelude)."""
    found = dict(blocks)
    return {name: frozenset(w for w in _words(text) if w in found) for name, text in blocks}


def uses(body: str, blocks: dict[str, str]) -> set[str]:
    """The prelude blocks `body`'s code names, directly or through other blocks."""
    names = _names(tuple(blocks.items()))
    needed: set[str] = set()
    todo = [w for w in _words(body) if w in names]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(names[name])
    return needed


def with_prelude(body: str, blocks: dict[str, str]) -> str:
    """`body` preceded by the prelude blocks it needs."""
    needed = uses(body, blocks)
    parts = [text for name, text in blocks.items() if name in needed]
    return "\n\n".join([*parts, body])


def library(bodies: dict[str, tuple[str, str]], blocks: dict[str, str]) -> tuple[str, str]:
    """(name, source) of the functions library: the prelude blocks any script uses, then
    `op_<script>(KEYS, ARGV)` for each script, registered as `pm<hash>_<script>` (plus
    `..._ro`, flagged no-writes, for a writing script's calls that write nothing)."""
    needed: set[str] = set()
    for body, _ in bodies.values():
        needed |= uses(body, blocks)
    parts = [text for name, text in blocks.items() if name in needed]
    for name, (body, _) in bodies.items():
        parts.append(f"local function op_{name}(KEYS, ARGV)\n{body.rstrip()}\nend")
    content = "\n\n".join(parts)
    tag = "pm" + hashlib.sha1(content.encode("utf-8")).hexdigest()[:12]
    registry = []
    for name, (_, flags) in bodies.items():
        if flags == "no-writes":
            registry.append(_register(f"{tag}_{name}", name, "no-writes"))
            continue
        # a write is refused whole at maxmemory (noeviction), unless it only removes
        registry.append(
            _register(f"{tag}_{name}", name, "allow-oom" if "allow-oom" in flags else "")
        )
        registry.append(_register(f"{tag}_{name}_ro", name, "no-writes"))
    source = f"#!lua name={tag}\n{content}\n\n" + "\n".join(registry) + "\n"
    return tag, source


def _register(function: str, name: str, flag: str) -> str:
    flags = f"'{flag}'" if flag else ""
    return (
        f"redis.register_function{{function_name='{function}', callback=op_{name}, "
        f"flags={{{flags}}}}}"
    )


def _load() -> tuple[dict[str, Script], Library]:
    folder = lua_dir()
    blocks = prelude_blocks((folder / f"{PRELUDE}.lua").read_text(encoding="utf-8"))
    bodies: dict[str, tuple[str, str]] = {}
    for path in sorted(folder.glob("*.lua")):
        if path.stem == PRELUDE:
            continue
        body = path.read_text(encoding="utf-8")
        found = _FLAGS.findall(body)
        if len(found) != 1 or found[0][0] not in FLAGS:
            raise RuntimeError(f"{path.name}: its header needs one '-- Flags:' line of {FLAGS}")
        bodies[path.stem] = (body, "".join(found[0]))
    tag, source = library(bodies, blocks)
    scripts = {}
    for name, (body, flags) in bodies.items():
        text = with_prelude(body, blocks)
        sha1 = hashlib.sha1(text.encode("utf-8")).hexdigest()
        function = f"{tag}_{name}"
        readonly = flags == "no-writes"
        scripts[name] = Script(
            name,
            text,
            sha1,
            readonly,
            not flags.startswith("once"),
            function,
            function if readonly else function + "_ro",
        )
    return scripts, Library(tag, source)


#: name -> Script, for every script file; LIBRARY: all of them as one functions library
SCRIPTS, LIBRARY = _load()
