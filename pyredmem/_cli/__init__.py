"""The `pyredmem` command line: an operator's view of any memory (`ls`, `get`, `set`, `rm`,
`ttl`, `history`, `threads`, `limits`, `cache`, `facts`, `recall`, `stats`), and `demo`,
`watch`, `erase`, `rotate-key`, `load-functions`. Each module adds its commands to the
parser; `main` runs the one asked for, its expected errors said in one line
(`_common.guarded`)."""

from __future__ import annotations

import argparse

from . import admin, history, inspect, values
from ._common import guarded

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="pyredmem",
        description="Redis-native agent memory. Every command takes --url, --tenant, "
        "--namespace and --json; those that read values take --keyring and "
        "--encrypt-names. Exit status: 0 done, 1 failed, 2 usage or configuration.",
    )
    parser.add_argument("--version", action="version", version=f"pyredmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    values.add_commands(commands)
    history.add_commands(commands)
    inspect.add_commands(commands)
    admin.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = guarded(args.run, args)
    return code
