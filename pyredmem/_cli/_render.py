"""How the command line shows things: tables, values, times, sizes, turns, JSON and a
progress bar (no I/O but the bar's writes to stderr)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import math
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = [
    "Bar",
    "dump",
    "jsonable",
    "pairs",
    "show_bytes",
    "show_seconds",
    "show_time",
    "show_turn",
    "show_value",
    "table",
]

#: the widest a table cell gets before it is cut with "…"
CELL_WIDTH = 72


def jsonable(value: Any) -> Any:
    """`json.dumps`'s fallback for what the codec may give back beside JSON's types."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return repr(value)


def dump(value: Any) -> str:
    """`value` as one line of JSON: strict JSON (NaN and infinities as the strings Python
    writes them, "nan", "inf", "-inf"), whatever the codec gave back (see `jsonable`; keys
    that are not text, such as bytes, as Python writes them)."""
    return json.dumps(_plain(value), ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    """`value` with only JSON's types, all the way down."""
    if isinstance(value, str) or value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return _plain(jsonable(value))


def _key(key: Any) -> str | int | float | bool | None:
    """A mapping key as JSON takes it: text, numbers (finite), booleans, null as they are
    (JSON writes them as text); anything else (bytes, a tuple) as Python writes it."""
    if isinstance(key, (str, bool, int)) or key is None:
        return key
    if isinstance(key, float) and math.isfinite(key):
        return key
    return repr(key)


def show_value(value: Any) -> str:
    """A stored value as a person reads it: a string as it is, anything else as JSON
    (bytes as Python writes them)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return repr(bytes(value))
    try:
        return json.dumps(value, ensure_ascii=False, default=_strict)
    except (TypeError, ValueError):
        return repr(value)


def _strict(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def show_time(epoch: float | _dt.datetime | None) -> str:
    """A time as UTC to the second: "2025-06-01 12:00:03" ("-" for none)."""
    if epoch is None:
        return "-"
    when = (
        epoch
        if isinstance(epoch, _dt.datetime)
        else _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    )
    return when.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def show_seconds(seconds: float | None) -> str:
    """A duration: "42.5 s", "12m 05s", "3h 12m", "2d 04h" ("never" for None)."""
    if seconds is None:
        return "never"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(seconds)
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def show_bytes(n: float | None) -> str:
    """A size: "812 B", "4.2 KiB", "1.3 GiB" ("-" for unknown)."""
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else "-" if value is None else f"{value:,}"
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text if len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under their headers, in columns two spaces apart; numbers right-aligned,
    None shown as "-", cells cut at CELL_WIDTH characters."""
    rows = list(rows)
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [
        any(isinstance(row[i], (int, float)) for row in rows)
        and all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    lines = []
    for line in [list(headers), *cells]:
        parts = [
            c.rjust(w) if numeric[i] else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def pairs(rows: Sequence[tuple[str, Any]]) -> str:
    """Names and values, one pair a line, the values lined up."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{name:<{width}}  {_cell(value)}".rstrip() for name, value in rows)


def _content(message: Any) -> str:
    """A turn's content as text: its text parts, other parts named, its tool calls."""
    content = message.content
    if isinstance(content, str):
        text = content
    elif content is None:
        text = ""
    else:
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append(str(part.get("text", "")))
            else:
                kind = part.get("type", "part") if isinstance(part, dict) else "part"
                parts.append(f"[{kind}]")
        text = " ".join(parts)
    calls = []
    for call in message.tool_calls or ():
        fn = call.get("function", {}) if isinstance(call, dict) else {}
        name = fn.get("name", "?") if isinstance(fn, dict) else "?"
        args = fn.get("arguments", "") if isinstance(fn, dict) else ""
        calls.append(f"-> {name}({args})")
    if message.tool_call_id:
        text = f"<- {message.tool_call_id}: {text}"
    return "\n".join(filter(None, [text, *calls]))


def show_turn(message: Any) -> str:
    """A turn in one block: time (UTC), role (and name), tokens, then its content, later
    lines indented under the first."""
    role = message.role + (f" ({message.name})" if message.name else "")
    tokens = "-" if message.tokens is None else str(message.tokens)
    head = f"{show_time(message.created_at)}  {role:<9}  {tokens:>5}  "
    lines = _content(message).splitlines() or [""]
    pad = " " * len(head)
    return "\n".join([head + lines[0], *(pad + line for line in lines[1:])]).rstrip()


class Bar:
    """A progress bar redrawn on stderr at most ten times a second, drawn only when
    `enabled` (a large database), ended with a newline by `close`."""

    __slots__ = ("_drawn", "_last", "done", "enabled", "out", "total", "what")

    def __init__(self, what: str, total: int, *, enabled: bool, out: TextIO | None = None):
        self.what = what
        self.total = max(1, total)
        self.enabled = enabled
        self.out = out if out is not None else sys.stderr
        self.done = 0
        self._last = 0.0
        self._drawn = False

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.1:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        share = min(1.0, self.done / self.total)
        filled = math.floor(share * 30)
        bar = "#" * filled + "." * (30 - filled)
        done = min(self.done, self.total)
        print(
            f"\r{self.what} [{bar}] {share:4.0%} {done:,}/{self.total:,}",
            end="",
            file=self.out,
            flush=True,
        )
        self._drawn = True

    def close(self) -> None:
        if self.enabled:
            self.done = self.total
            self._draw()
            print(file=self.out, flush=True)
