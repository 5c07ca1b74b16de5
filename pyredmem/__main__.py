"""Command line: `pyredmem demo [--url URL]`, `pyredmem load-functions URL`,
`pyredmem --version`."""

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
    load = commands.add_parser(
        "load-functions",
        help="register pyredmem's functions library on a server (every primary of a cluster)",
        description="Register pyredmem's Redis Functions library, as an administrator does for "
        "users whose ACL allows FCALL but not FUNCTION LOAD. Memories load it themselves "
        "where they may.",
    )
    load.add_argument("url", help="e.g. redis://admin:secret@host:6379 or redis+cluster://...")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        run_demo(args.url)
    elif args.command == "load-functions":
        return _load_functions(args.url)
    return 0


def _load_functions(url: str) -> int:
    from ._connect import made, open_sync, translate
    from ._dialect import LOAD
    from ._errors import PyRedMemError
    from ._scripts import LIBRARY

    client = None
    try:
        conn = open_sync(url)
        client = made(conn)
        if conn.cluster:
            replies = client.execute_command(*LOAD, target_nodes=client.PRIMARIES)
            servers = len(replies) if isinstance(replies, dict) else 1
        else:
            client.execute_command(*LOAD)
            servers = 1
    except Exception as exc:
        error = exc if isinstance(exc, PyRedMemError) else translate(exc, key=None, scope=None)
        print(f"pyredmem: {error}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"library {LIBRARY.name} ({len(LIBRARY.source):,} bytes) loaded on {servers} server(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
