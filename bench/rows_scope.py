"""Scoped memory rows: get/set/incr vs GET/SET/INCR, and a context() lookup over 4 scopes."""

from __future__ import annotations

from typing import Any

from bench.harness import Row, bare
from pyredmem import Memory, MsgpackCodec

VALUE = {"theme": "dark", "language": "en", "timezone": "Europe/Paris", "beta": True, "n": 7}


def rows(mem: Memory, raw: Any) -> list[Row]:
    payload = MsgpackCodec().encode(VALUE)
    user = mem.user("bench-user")
    user.set("prefs", VALUE)
    mem.global_scope.set("flag", VALUE)
    raw.set("raw:prefs", payload)
    ctx = mem.context(user="bench-user", session="bench-session", run="bench-run")
    assert len(ctx.scopes) == 4 and ctx.get("flag") == VALUE  # found in the 4th, global
    return [
        Row("scope.get", lambda: user.get("prefs"), "GET", lambda: raw.get("raw:prefs"), 1.25),
        Row(
            "scope.set",
            lambda: user.set("prefs", VALUE),
            "SET",
            lambda: raw.set("raw:prefs", payload),
            1.25,
        ),
        Row("scope.incr", lambda: user.incr("n"), "INCR", lambda: raw.incr("raw:n"), 1.25),
        Row(
            "context.get (4 scopes, global hit)",
            lambda: ctx.get("flag"),
            "GET",
            lambda: raw.get("raw:prefs"),
            1.3,
        ),
        # for reference: the raw command without redis-py's per-command machinery
        Row(
            "floor: GET on a bare connection",
            bare(raw, "GET", "raw:prefs"),
            "GET",
            lambda: raw.get("raw:prefs"),
        ),
    ]
