"""`pyredmem COMMAND ...` and `python -m pyredmem COMMAND ...`: the command line, whose
commands live in pyredmem/_cli/ (`pyredmem --help` lists them)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ._cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
