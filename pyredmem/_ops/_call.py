from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._scripts import SCRIPTS, Script

__all__ = ["Call", "script"]

T = TypeVar("T")

Arg = str | bytes | int


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One script call: what to send, and how to read the reply.

    `key` and `scope` name what the call is about, for the errors it may raise.
    """

    script: Script
    keys: tuple[str, ...]
    args: tuple[Arg, ...]
    parse: Callable[[Any], T]
    key: str | None = None
    scope: str | None = None


def script(name: str) -> Script:
    return SCRIPTS[name]
