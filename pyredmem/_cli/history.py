"""`history show`, `history tail [-f]`, `threads`: conversation threads, readably."""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

from .._errors import PyRedMemError
from ._common import add_options, add_scope, open_memory, say, scope_of
from ._render import dump, show_seconds, show_time, show_turn, table

__all__ = ["add_commands"]

#: how often `tail -f` asks for the newest turn (seconds): one LRANGE of one turn
POLL = 0.2
#: the newest turns `tail -f` reads when the newest one is new to it
WINDOW = 200
#: threads per threads() page (its most)
PAGE = 1000


def add_commands(commands: Any) -> None:
    history = commands.add_parser("history", help="a thread's turns: show, or tail [-f]")
    verbs = history.add_subparsers(dest="verb", required=True, metavar="{show,tail}")
    show = verbs.add_parser("show", help="a thread's turns, oldest first")
    add_scope(show)
    show.add_argument("thread", metavar="THREAD")
    show.add_argument("--last", type=int, default=None, help="the newest N turns only")
    add_options(show)
    show.set_defaults(run=_show)

    tail = verbs.add_parser(
        "tail",
        help="a thread's newest turns; -f follows the turns appended later",
        description="The newest turns of a thread; with -f, then every turn appended later "
        f"(asking for the newest turn every {POLL} s: one LRANGE of one entry), until "
        "Ctrl-C or --timeout seconds without a new turn. Reads never extend a thread's "
        "expiry.",
    )
    add_scope(tail)
    tail.add_argument("thread", metavar="THREAD")
    tail.add_argument("-n", "--last", type=int, default=10, help="turns shown first (10)")
    tail.add_argument("-f", "--follow", action="store_true", help="then follow new turns")
    tail.add_argument(
        "--timeout", type=float, default=None, help="with -f: stop after seconds with no turn"
    )
    add_options(tail)
    tail.set_defaults(run=_tail)

    threads = commands.add_parser("threads", help="a scope's threads, most recently written first")
    add_scope(threads)
    threads.add_argument("--limit", type=int, default=None, help="at most N threads (all)")
    add_options(threads)
    threads.set_defaults(run=_threads)


def turn_dict(message: Any) -> dict[str, Any]:
    """A turn as JSON: every field of its Message."""
    return {f.name: getattr(message, f.name, None) for f in dataclasses.fields(message)}


def _print_turns(messages: list[Any], as_json: bool) -> None:
    for m in messages:
        print(dump(turn_dict(m)) if as_json else show_turn(m), flush=True)


def _history(args: argparse.Namespace, mem: Any) -> Any:
    # sliding=False: an operator's reads leave the thread's expiry as it is
    return scope_of(mem, args.kind, args.id).history(args.thread, sliding=False)


def _show(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        history = _history(args, mem)
        messages = history.messages(last=args.last)
    if args.json:
        print(dump([turn_dict(m) for m in messages]))
    elif messages:
        _print_turns(messages, False)
    else:
        say(f"thread {args.thread!r} of {history.scope} holds no turns")
    return 0


def _tail(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        history = _history(args, mem)
        window = history.messages(last=max(args.last, WINDOW) if args.follow else args.last)
        shown = window[-args.last :] if args.last else []
        _print_turns(shown, args.json)
        if args.follow:
            _follow(history, {m.id: None for m in window}, args.json, args.timeout)
    return 0


def _follow(history: Any, seen: dict[str, None], as_json: bool, timeout: float | None) -> None:
    """Print the turns appended from now on: each poll reads the newest turn, and only when
    it is new, the newest WINDOW turns, printing those not shown yet (in order)."""
    quiet_since = time.monotonic()
    while timeout is None or time.monotonic() - quiet_since < timeout:
        time.sleep(POLL)
        newest = history.messages(last=1)
        if not newest or newest[0].id in seen:
            continue
        fresh = [m for m in history.messages(last=WINDOW) if m.id not in seen]
        _print_turns(fresh, as_json)
        for m in fresh:
            seen[m.id] = None
        while len(seen) > 4 * WINDOW:  # older ids never come back into the window
            del seen[next(iter(seen))]
        quiet_since = time.monotonic()


def _threads(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        found: list[Any] = []
        while args.limit is None or len(found) < args.limit:
            want = PAGE if args.limit is None else min(PAGE, args.limit - len(found))
            page = scope.threads(limit=want, offset=len(found))
            found += page
            if len(page) < want:
                break
        turns: list[Any] = []
        for start in range(0, len(found), PAGE):
            with mem.batch() as b:
                pending = [
                    b.on(scope.history(t.id, sliding=False)).count()
                    for t in found[start : start + PAGE]
                ]
            for p in pending:
                try:
                    turns.append(p.result())
                except PyRedMemError:
                    turns.append(None)
    now = time.time()
    rows = [
        {
            "thread": t.id,
            "turns": n,
            "last_activity": t.last_activity,
            "expires_at": t.expires_at,
        }
        for t, n in zip(found, turns, strict=True)
    ]
    if args.json:
        print(dump(rows))
    elif rows:
        print(
            table(
                ["THREAD", "TURNS", "LAST WRITE (UTC)", "EXPIRES IN"],
                [
                    [
                        r["thread"],
                        r["turns"],
                        show_time(r["last_activity"]),
                        show_seconds(
                            None if r["expires_at"] is None else max(0.0, r["expires_at"] - now)
                        ),
                    ]
                    for r in rows
                ],
            )
        )
    else:
        say(f"{scope.ref} has no threads")
    return 0
