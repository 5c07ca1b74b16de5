"""Every key a script touches arrives in KEYS (a static check of lua/*.lua).

Redis Cluster routes a script by its KEYS, and a script that builds a key name itself may
reach a key on another node, or one a proxy or ACL never sees. So the key argument of every
redis.call / redis.pcall must be `KEYS[...]` or a local assigned from `KEYS[...]` (and from
nothing else). Prelude helpers take keys as parameters: a parameter that reaches a key
argument is a key parameter, and every call of the helper must pass it such an expression.
The check is conservative: a command it does not classify fails it, as does a key argument
it cannot trace to KEYS (say, a parameter of a function defined inside a script).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pyredmem._scripts import PRELUDE

LUA = Path(__file__).resolve().parent.parent / "lua"

#: commands whose first argument is a key (a command passed in a variable counts as one);
#: ALL_KEYS: every argument is a key; NO_KEYS: none. Any other command fails the check.
FIRST_KEY = frozenset(
    "GET SET SETNX INCR INCRBY DECR STRLEN PTTL TTL PEXPIRE PEXPIREAT EXPIRE EXPIREAT PERSIST "
    "TYPE HGET HSET HSETNX HMGET HDEL HINCRBY HINCRBYFLOAT HEXISTS HLEN HKEYS HVALS HGETALL "
    "HSCAN ZADD ZREM ZRANGE ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZREMRANGEBYSCORE "
    "ZREMRANGEBYRANK ZCARD ZCOUNT ZSCORE ZMSCORE ZINCRBY ZRANK ZREVRANK LPUSH RPUSH LPOP RPOP "
    "LRANGE LTRIM LLEN LINDEX LSET LREM LINSERT SADD SREM SCARD SISMEMBER SMEMBERS XADD "
    "XRANGE XLEN".split()
)
ALL_KEYS = frozenset({"DEL", "UNLINK", "EXISTS"})
NO_KEYS = frozenset({"TIME"})

_TOKEN = re.compile(
    r"""(?P<comment>--[^\n]*)|(?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")"""
    r"""|(?P<name>[A-Za-z_]\w*)|(?P<nl>\n)|(?P<space>[ \t\r]+)|(?P<other>\.\.|.)"""
)
_KEYS_EXPR = re.compile(r"KEYS\[[^\[\]]+\]")
_LOCAL = re.compile(r"^\s*(?:local\s+)?([A-Za-z_][\w\s,]*?)\s*=(?!=)\s*(.+)$")
_FUNCTION = re.compile(r"^local function (\w+)\(([^)]*)\)", re.MULTILINE)
_BLOCK = re.compile(r"\S.*?(?=\n[ \t]*\n|\Z)", re.DOTALL)


@dataclass
class Tok:
    kind: str
    text: str
    line: int


def tokens(source: str) -> list[Tok]:
    out, line = [], 1
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup or "other"
        if kind == "nl":
            line += 1
        elif kind not in ("comment", "space"):
            out.append(Tok(kind, m.group(), line))
    return out


def split_args(toks: list[Tok], start: int) -> tuple[list[list[Tok]], int]:
    """The comma-separated arguments of the call whose '(' is at `start`, and the index
    after its ')'."""
    args: list[list[Tok]] = [[]]
    depth, i = 0, start + 1
    while i < len(toks):  # an unclosed call (a line cut short) ends with the tokens
        t = toks[i]
        if t.text in "([{" and t.kind == "other":
            depth += 1
        elif t.text in ")]}" and t.kind == "other":
            if depth == 0:
                return ([] if args == [[]] else args), i + 1
            depth -= 1
        elif t.text == "," and depth == 0:
            args.append([])
            i += 1
            continue
        args[-1].append(t)
        i += 1
    return args, i


def split_top(expr: str) -> list[str]:
    """`expr` split at commas outside brackets and strings."""
    toks = tokens(expr + ")")
    parts, _ = split_args([Tok("other", "(", 0), *toks], 0)
    return ["".join(t.text for t in p) for p in parts]


@dataclass
class Unit:
    """One place keys are used: a script file, or one prelude helper."""

    where: str
    toks: list[Tok]
    helper: str | None = None  # the prelude helper's name
    params: list[str] = field(default_factory=list)
    from_keys: set[str] = field(default_factory=set)  # locals assigned only from KEYS[...]
    keys_tables: bool = False  # its `keys = {...}` tables hold only KEYS[...] entries


_KEYS_FIELD = re.compile(r"\w+\.keys\[[^\]]+\]")
_KEYS_TABLE = re.compile(r"\bkeys\s*=\s*\{([^}]*)\}")


def keys_tables_ok(code: str) -> bool:
    """Whether every `keys = {...}` table in `code` holds only KEYS[...] entries, so that
    `<spec>.keys[i]` is a key taken from KEYS."""
    tables = _KEYS_TABLE.findall(code)
    return bool(tables) and all(
        all(_KEYS_EXPR.fullmatch(e.strip()) for e in split_top(t) if e.strip()) for t in tables
    )


def keys_expr(expr: str, code_ok: bool) -> bool:
    if expr == "unpack(KEYS)":  # every key given, as the arguments of one command
        return True
    return _KEYS_EXPR.fullmatch(expr) is not None or (
        code_ok and _KEYS_FIELD.fullmatch(expr) is not None
    )


def keys_locals(code: str) -> set[str]:
    code_ok = keys_tables_ok(code)
    assigned: dict[str, bool] = {}
    for line in code.splitlines():
        m = _LOCAL.match(line.split("--")[0])
        if not m or m.group(1).strip() == "function":
            continue
        names = [n.strip() for n in m.group(1).split(",")]
        values = split_top(m.group(2).strip())
        for i, name in enumerate(names):
            ok = i < len(values) and keys_expr(values[i].strip(), code_ok)
            assigned[name] = assigned.get(name, True) and ok
    return {name for name, ok in assigned.items() if ok}


def units(sources: dict[str, str]) -> list[Unit]:
    found = []
    for filename, text in sorted(sources.items()):
        if filename != f"{PRELUDE}.lua":
            found.append(
                Unit(
                    filename,
                    tokens(text),
                    from_keys=keys_locals(text),
                    keys_tables=keys_tables_ok(text),
                )
            )
            continue
        for block in _BLOCK.finditer(text):  # one definition per block, as the registry reads it
            line = text.count("\n", 0, block.start()) + 1
            toks = tokens(block.group())
            for t in toks:
                t.line += line - 1
            m = _FUNCTION.search(block.group())
            name = m.group(1) if m else None
            params = [p.strip() for p in m.group(2).split(",") if p.strip()] if m else []
            found.append(Unit(f"{filename} ({name or f'line {line}'})", toks, name, params))
    return found


def calls(unit: Unit) -> list[tuple[str, list[list[Tok]], int]]:
    """(callee, arguments, line) of every call in `unit`: 'redis.call:<CMD>' for Redis
    commands, the function's name otherwise."""
    toks, out = unit.toks, []
    for i, t in enumerate(toks):
        if t.kind != "name" or i + 1 >= len(toks) or toks[i + 1].text != "(":
            continue
        if i >= 2 and toks[i - 1].text == "." and toks[i - 2].text == "redis":
            if t.text not in ("call", "pcall"):
                continue
            args, _ = split_args(toks, i + 1)
            first = args[0] if args else []
            literal = len(first) == 1 and first[0].kind == "string"
            command = first[0].text.strip("'\"").upper() if literal else "*"
            out.append((f"redis.call:{command}", args[1:], t.line))
        elif i == 0 or toks[i - 1].text not in (".", ":", "function"):
            args, _ = split_args(toks, i + 1)
            out.append((t.text, args, t.line))
    return out


def key_positions(callee: str, nargs: int, helpers: dict[str, set[int]]) -> set[int] | None:
    """Which arguments of a call are keys (None: a command this check does not know)."""
    if callee.startswith("redis.call:"):
        command = callee.split(":", 1)[1]
        if command in NO_KEYS:
            return set()
        if command in ALL_KEYS:
            return set(range(nargs))
        if command in FIRST_KEY or command == "*":
            return {0} if nargs else set()
        return None
    return helpers.get(callee, set())


def violations(sources: dict[str, str]) -> list[str]:
    """Every key argument in `sources` (file name -> Lua text) not taken from KEYS."""
    all_units = units(sources)
    by_name = {u.helper: u for u in all_units if u.helper}
    helpers: dict[str, set[int]] = {name: set() for name in by_name}

    # a helper's key parameters: those that appear in any key argument it passes on
    changed = True
    while changed:
        changed = False
        for name, unit in by_name.items():
            for callee, args, _ in calls(unit):
                for pos in key_positions(callee, len(args), helpers) or set():
                    if pos >= len(args):
                        continue
                    used = {t.text for t in args[pos] if t.kind == "name"}
                    for index, param in enumerate(unit.params):
                        if param in used and index not in helpers[name]:
                            helpers[name].add(index)
                            changed = True

    bad = []
    for unit in all_units:
        key_params = helpers.get(unit.helper or "", set())
        allowed = unit.from_keys | {unit.params[i] for i in key_params}
        for callee, args, line in calls(unit):
            positions = key_positions(callee, len(args), helpers)
            if positions is None:
                bad.append(f"{unit.where}:{line}: {callee} is not classified in this test")
                continue
            for pos in sorted(positions):
                expr = "".join(t.text for t in args[pos]) if pos < len(args) else ""
                if not (keys_expr(expr, unit.keys_tables) or expr in allowed):
                    bad.append(f"{unit.where}:{line}: {callee} key argument {expr!r}")
    return bad


def lua_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in LUA.glob("*.lua")}


def test_every_key_a_script_touches_comes_from_keys() -> None:
    sources = lua_files()
    commands = [c for u in units(sources) for c, _, _ in calls(u) if c.startswith("redis.")]
    assert len(commands) > 50  # the check sees the scripts' commands
    assert violations(sources) == []


PRELUDE_OK = """local function wake(n, w)
  local waiting = tonumber(redis.call('GET', n))
  redis.call('RPUSH', w, '1')
end

local function drop(p, key)
  redis.call('DEL', p .. 'v:' .. key)
end

local function each(cmd, key, items)
  redis.call(cmd, key, unpack(items))
end
"""


def test_the_check_catches_key_names_built_in_lua() -> None:
    good = (
        "-- ok\nlocal n, w = KEYS[1], KEYS[2]\nwake(n, w)\nredis.call('DEL', KEYS[3])\n"
        "each('ZREM', n, {'a'})\n"
    )
    variable = "-- variable\neach('ZREM', ARGV[1], {'a'})\n"
    built = "-- built\nlocal i = KEYS[1]\nlocal p = string.sub(i, 1, -2)\ndrop(p, 'x')\n"
    direct = "-- direct\nlocal h = KEYS[1]\nredis.call('HGET', h .. ':x', 'f')\n"
    swapped = "-- swapped\nlocal n = KEYS[1]\nn = n .. 'x'\nwake(n, KEYS[2])\n"
    unknown = "-- unknown\nredis.call('SUNION', KEYS[1], KEYS[2])\n"
    found = violations(
        {
            "_prelude.lua": PRELUDE_OK,
            "good.lua": good,
            "built.lua": built,
            "direct.lua": direct,
            "swapped.lua": swapped,
            "unknown.lua": unknown,
            "variable.lua": variable,
        }
    )
    assert found == [
        "_prelude.lua (drop):7: redis.call:DEL key argument \"p..'v:'..key\"",
        "built.lua:4: drop key argument 'p'",
        "built.lua:4: drop key argument \"'x'\"",  # `key` reaches a key name in drop
        "direct.lua:3: redis.call:HGET key argument \"h..':x'\"",
        "swapped.lua:4: wake key argument 'n'",
        "unknown.lua:2: redis.call:SUNION is not classified in this test",
        "variable.lua:2: each key argument 'ARGV[1]'",
    ]


def test_spec_tables_count_only_when_built_from_keys() -> None:
    good = "-- good\nlocal s = {keys = {KEYS[1], KEYS[2]}}\nredis.call('GET', s.keys[1])\n"
    bad = "-- bad\nlocal s = {keys = {KEYS[1] .. 'x'}}\nredis.call('GET', s.keys[1])\n"
    assert violations({"good.lua": good}) == []
    assert violations({"bad.lua": bad}) != []
