from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .._config import Config
from .._keys import ScopeRef
from .._scripts import SCRIPTS, Script
from .events import event_args, log_key

__all__ = ["Arg", "Call", "Target", "is_one", "nothing", "script"]

T = TypeVar("T")

Arg = str | bytes | int


class Call(Generic[T]):
    """One script call: what to send, and how to read the reply.

    `key` and `scope` name what the call is about, for the errors it may raise. `readonly`
    (default: the script's flag) sends it as EVALSHA_RO, which write pauses and read-only
    replicas let through; a call of a writing script that writes nothing with these
    arguments (a limiter peek) may say so. `command`: a plain read that does the script's
    job with these arguments (no script needed to be correct), sent as it is instead; the
    script, which must be no-writes, still names the call and its flags (read-only, safe to
    retry). (A plain slotted class: built on every operation, so cheaper than a frozen
    dataclass.)
    """

    __slots__ = ("args", "command", "key", "keys", "parse", "readonly", "scope", "script")

    def __init__(
        self,
        script: Script,
        keys: tuple[str, ...],
        args: tuple[Arg, ...],
        parse: Callable[[Any], T],
        key: str | None = None,
        scope: str | None = None,
        readonly: bool | None = None,
        command: tuple[Arg, ...] | None = None,
    ) -> None:
        self.script = script
        self.command = command
        self.readonly = script.readonly if readonly is None else readonly
        self.keys = keys
        self.args = args
        self.parse = parse
        self.key = key
        self.scope = scope

    def __repr__(self) -> str:
        if self.command is not None:
            return f"Call({self.script.name}, command={self.command!r})"
        return f"Call({self.script.name}, keys={self.keys!r}, args={self.args!r})"


class Target:
    """A scope instance resolved once: its config, keys and label (for errors).

    A write sends `write_keys` as its KEYS (H, X, then the scope's change log when this
    Memory logs change events) and `events_args` after its own ARGV (`event_args(cfg)`, or
    nothing): see events.py. `aad`: with encryption, what its values are bound to.
    """

    __slots__ = ("aad", "cfg", "events_args", "keys", "label", "ref", "write_keys")

    def __init__(self, cfg: Config, ref: ScopeRef) -> None:
        self.cfg = cfg
        self.ref = ref
        self.keys = cfg.keyspace.scope_keys(ref)
        self.write_keys: tuple[str, ...] = self.keys
        self.label = str(ref)
        #: what its values are bound to when encrypted (None: not encrypted)
        self.aad = cfg.binding("v", ref.kind, ref.id)
        self.events_args: tuple[str, ...] = ()
        if cfg.events:
            self.write_keys = (*self.keys, self.log)
            self.events_args = event_args(cfg)

    @property
    def log(self) -> str:
        """The scope's change log."""
        return log_key(self.cfg.keyspace.prefix(self.ref))


def script(name: str) -> Script:
    return SCRIPTS[name]


def is_one(reply: Any) -> bool:
    """Parse a 1/0 reply."""
    return bool(reply == 1)


def nothing(reply: Any) -> None:
    """Parse a reply that carries nothing the caller needs."""
    return None
