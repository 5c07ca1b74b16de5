"""How a Call is spelled on the wire (no I/O): FCALL of its function in the library, or the
EVALSHA fallback for servers that refuse FUNCTION.

A runner starts with functions on. The first call to a server that lacks the library gets
"Function not found", loads the library (`FUNCTION LOAD REPLACE`: two pyredmem versions
have libraries of different names, so neither replaces the other's) and is sent again. A
server that refuses FUNCTION or FCALL (an ACL, a managed service, a server older than
Redis 7) switches that runner to EVALSHA for good, said once in a log line.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import NoPermissionError, ResponseError

from ._ops._call import Call
from ._scripts import LIBRARY

__all__ = ["LOAD", "Dialect", "Refused", "is_missing", "is_refusal"]

log = logging.getLogger("pyredmem")

#: the command that registers the library
LOAD = ("FUNCTION", "LOAD", "REPLACE", LIBRARY.source)

# the server's fixed reply to FCALL of a name it does not know (Redis 7+, Valkey, fakeredis)
_MISSING = "Function not found"


class Refused(Exception):
    """The server will not run functions for us: use EVALSHA from now on."""


class Dialect:
    """What one runner's server understands. `functions`: send FCALL (else EVALSHA);
    `ro`: it knows EVALSHA_RO (every real server; the embedded store has FCALL_RO only)."""

    __slots__ = ("functions", "ro")

    def __init__(self, *, functions: bool, ro: bool) -> None:
        self.functions = functions
        self.ro = ro

    def command(self, call: Call[Any], functions: bool | None = None) -> tuple[Any, ...]:
        """The command that runs `call` (as a function, unless `functions` is False or
        functions were given up); a plain command as it is."""
        if call.command is not None:
            return call.command
        script = call.script
        if self.functions if functions is None else functions:
            if call.readonly:
                return ("FCALL_RO", script.function_ro, len(call.keys), *call.keys, *call.args)
            return ("FCALL", script.function, len(call.keys), *call.keys, *call.args)
        name = "EVALSHA_RO" if call.readonly and self.ro else "EVALSHA"
        return (name, script.sha1, len(call.keys), *call.keys, *call.args)

    def source_command(self, call: Call[Any]) -> tuple[Any, ...]:
        """EVAL of `call`'s source (after NOSCRIPT: it also caches the script)."""
        name = "EVAL_RO" if call.readonly and self.ro else "EVAL"
        return (name, call.script.source, len(call.keys), *call.keys, *call.args)

    def give_up_functions(self, why: BaseException) -> None:
        if self.functions:
            self.functions = False
            log.warning(
                "the server refuses Redis Functions (%s): pyredmem runs its scripts with "
                "EVALSHA instead",
                type(why).__name__,
            )


def is_missing(error: BaseException) -> bool:
    """Is `error` the server's answer to FCALL of a function it lacks (a new server, a
    restart without persistence, FUNCTION FLUSH, a new cluster node)?"""
    return isinstance(error, ResponseError) and str(error) == _MISSING


def is_refusal(error: BaseException) -> bool:
    """Is `error` a refusal of FCALL itself (ACL) or of the command (an old server)? Only
    the error's type and the server's fixed "unknown command" opening are read."""
    if isinstance(error, NoPermissionError):
        return True
    return isinstance(error, ResponseError) and str(error).startswith("unknown command")
