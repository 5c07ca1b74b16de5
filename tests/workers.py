"""Worker functions for concurrency tests (importable, so `spawn` processes can run them)."""

from __future__ import annotations

from typing import Any

from pyredmem import Memory


def bump_field(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "count": doc.get("count", 0) + 1}


def update_and_incr(url: str, n: int) -> int:
    """`n` read-modify-write updates of one dict field, and `n` counter increments."""
    with Memory(url) as mem:
        scope = mem.workflow("shared")
        for _ in range(n):
            scope.update("doc", bump_field, default={})
            scope.incr("counter")
    return n
