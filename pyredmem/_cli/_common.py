"""What every command shares: its options, the Memory they describe, scopes named on the
command line, and the one place errors become exit codes (2: usage or configuration, 1: a
failure, 130: interrupted), never a traceback for an expected error."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError, PyRedMemError, ValidationError
from .._keys import KINDS

if TYPE_CHECKING:
    from .._crypto import Keyring
    from .._sync.memory import Memory
    from .._sync.scope import Scope

__all__ = [
    "Failure",
    "UsageError",
    "add_options",
    "guarded",
    "keyring",
    "open_memory",
    "say",
    "scope_of",
]

#: the global scope's id on the command line
GLOBAL_ID = "-"


class UsageError(Exception):
    """The command line asks for something that cannot be done as asked (exit 2)."""


class Failure(Exception):
    """An expected failure of a command, said in one line (exit 1)."""


def add_options(parser: argparse.ArgumentParser, *, encryption: bool = True) -> None:
    """The options of every command: where the memory is, and how to read it."""
    where = parser.add_argument_group("memory")
    where.add_argument(
        "--url",
        default=os.environ.get("PYREDMEM_URL") or "memory://",
        help="redis://, rediss://, unix://, redis+cluster://, redis+sentinel:// or "
        "memory://NAME (default: $PYREDMEM_URL, else the embedded store)",
    )
    where.add_argument("--tenant", default=None, help="default: none")
    where.add_argument("--namespace", default="pm", help="default: pm")
    where.add_argument("--json", action="store_true", help="machine output (JSON)")
    if encryption:
        sealed = parser.add_argument_group("encryption at rest")
        sealed.add_argument(
            "--keyring",
            default=None,
            metavar="FILE",
            help='JSON {"primary": "id", "keys": {"id": "base64", ...}} (default: '
            "$PYREDMEM_KEYRING, else none): values are decrypted",
        )
        sealed.add_argument(
            "--encrypt-names",
            action="store_true",
            help="the memory encrypts names (encrypt_names=True): ids and keys are "
            "encrypted to be found and shown plain",
        )


def add_scope(parser: argparse.ArgumentParser) -> None:
    """KIND ID: one scope instance."""
    parser.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    parser.add_argument("id", metavar="ID", help=f"the scope's id ('{GLOBAL_ID}' for global)")


def keyring(args: argparse.Namespace, *, required: bool = True) -> Keyring | None:
    """The Keyring --keyring's file (or $PYREDMEM_KEYRING) describes; None when neither is
    given and none is `required`."""
    from .._crypto import Keyring

    path = getattr(args, "keyring", None)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the keyring file: {exc}") from exc
    else:
        text = os.environ.get("PYREDMEM_KEYRING", "")
        if not text:
            if required:
                raise ConfigurationError("give --keyring FILE or set PYREDMEM_KEYRING")
            return None
    try:
        doc = json.loads(text)
        return Keyring(doc["keys"], primary=doc["primary"], names=doc.get("names"))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(
            'the keyring is JSON: {"primary": "id", "keys": {"id": "base64", ...}}'
        ) from exc


def open_memory(args: argparse.Namespace, *, ring: Keyring | None = None, **options: Any) -> Memory:
    """The Memory the command line describes (its keyring, unless `ring` is given)."""
    from .._sync.memory import Memory

    names = bool(getattr(args, "encrypt_names", False))
    if ring is None and hasattr(args, "keyring"):  # commands that read no values have none
        try:
            ring = keyring(args, required=names)
        except ConfigurationError as exc:
            raise ConfigurationError(f"--encrypt-names needs the keyring: {exc}") from exc
    return Memory(
        args.url,
        tenant=args.tenant,
        namespace=args.namespace,
        encryption_key=ring,
        encrypt_names=names,
        **options,
    )


def scope_of(mem: Memory, kind: str, ident: str) -> Scope:
    """The scope KIND ID names ('-' or '' is the global scope's id)."""
    if kind == "global":
        if ident not in (GLOBAL_ID, ""):
            raise UsageError(f"the global scope has no id: write '{GLOBAL_ID}', not {ident!r}")
        return mem.scope("global")
    return mem.scope(kind, ident)


def say(text: str) -> None:
    """A line for the person at the terminal (stderr: stdout stays the command's output)."""
    print(text, file=sys.stderr, flush=True)


def guarded(command: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command, its expected errors said in one line on stderr."""
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pyredmem ... | head`: the reader has gone
        try:  # so that Python's flush at exit finds nobody to complain to
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 0
    except (UsageError, ConfigurationError, ValidationError) as exc:
        say(f"pyredmem: {exc}")
        return 2
    except (Failure, PyRedMemError) as exc:
        say(f"pyredmem: {exc}")
        return 1
