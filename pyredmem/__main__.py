"""Command line: `pyredmem demo [--url URL]`, `pyredmem --version`."""

from __future__ import annotations

import argparse
import sys

from . import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyredmem", description="Redis-native agent memory.")
    parser.add_argument("--version", action="version", version=f"pyredmem {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="a short tour, on the embedded store by default")
    demo.add_argument(
        "--url",
        default="memory://demo",
        help="where to run it, e.g. redis://localhost:6379 (default: embedded)",
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(args.url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
