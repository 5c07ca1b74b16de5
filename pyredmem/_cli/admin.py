"""`demo`, `load-functions`, `watch`, `erase`, `rotate-key`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .._errors import ConfigurationError, PyRedMemError
from ._common import add_options, keyring, open_memory, say

__all__ = ["add_commands", "event_line"]


def add_commands(commands: Any) -> None:
    demo = commands.add_parser("demo", help="a short tour, on the embedded store by default")
    demo.add_argument(
        "--url",
        default="memory://demo",
        help="where to run it, e.g. redis://localhost:6379 (default: embedded)",
    )
    demo.set_defaults(run=_demo)

    load = commands.add_parser(
        "load-functions",
        help="register pyredmem's functions library on a server (every primary of a cluster)",
        description="Register pyredmem's Redis Functions library, as an administrator does for "
        "users whose ACL allows FCALL but not FUNCTION LOAD. Memories load it themselves "
        "where they may.",
    )
    load.add_argument("url", help="e.g. redis://admin:secret@host:6379 or redis+cluster://...")
    load.set_defaults(run=_load_functions)

    watch = commands.add_parser(
        "watch",
        help="print change events live, one line each (writers need Memory(events=True))",
        description="Print the change events of the scopes or caches PATTERN names, as they "
        "happen: 'workflow:refund-*', 'user:alice', 'cache:prices', 'user' (every user) or "
        "'*' (everything of the tenant). Ctrl-C stops; the last line's id resumes (--after).",
    )
    watch.add_argument("pattern")
    watch.add_argument("--keys", default=None, help="glob over keys, thread ids or cache keys")
    watch.add_argument("--after", default=None, help="an event id: replay from there first")
    watch.add_argument("--values", action="store_true", help="show the new values, if logged")
    watch.add_argument("--timeout", type=float, default=None, help="stop after idle seconds")
    add_options(watch)
    watch.set_defaults(run=_watch)

    erase = commands.add_parser(
        "erase",
        help="remove everything stored for one scope instance (asks first)",
        description="Remove everything stored for one scope instance: its values, "
        "conversation threads, facts, change log and the caches scoped to it, e.g. "
        "'pyredmem erase user alice'. Asks for confirmation on a terminal; elsewhere "
        "it needs --yes. Keys written while it runs may survive.",
    )
    erase.add_argument(
        "kind", help="step, run, workflow, session, user, actor, organization, global"
    )
    erase.add_argument("id", nargs="?", default=None, help="the scope's id (none for global)")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_options(erase)
    erase.set_defaults(run=_erase)

    rotate = commands.add_parser(
        "rotate-key",
        help="rewrite every stored value under the keyring's primary key (online, resumable)",
        description="Rewrite every value of the tenant under the keyring's primary key, and "
        "encrypt those stored before encryption was on (mem.reencrypt()). Give writers the "
        "new keyring first. FILE (or the PYREDMEM_KEYRING variable) holds JSON: "
        '{"primary": "id", "keys": {"id": "base64", ...}} (optional "names": the id of the '
        "key that encrypts names and keys digests). Interrupted, it is finished by running "
        "it again.",
    )
    add_options(rotate)
    rotate.set_defaults(run=_rotate_key)


def _demo(args: argparse.Namespace) -> int:
    from .._demo import run_demo

    run_demo(args.url)
    return 0


def _load_functions(args: argparse.Namespace) -> int:
    from .._connect import made, open_sync, translate
    from .._dialect import LOAD
    from .._scripts import LIBRARY

    client = None
    try:
        conn = open_sync(args.url)
        client = made(conn)
        if conn.cluster:
            replies = client.execute_command(*LOAD, target_nodes=client.PRIMARIES)
            servers = len(replies) if isinstance(replies, dict) else 1
        else:
            client.execute_command(*LOAD)
            servers = 1
    except Exception as exc:
        error = exc if isinstance(exc, PyRedMemError) else translate(exc, key=None, scope=None)
        say(f"pyredmem: {error}")
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"library {LIBRARY.name} ({len(LIBRARY.source):,} bytes) loaded on {servers} server(s)")
    return 0


def event_line(ev: Any, as_json: bool, values: bool) -> str:
    """A change event in one line: text, or a JSON object."""
    from .._ops.events import NOT_LOGGED

    fields: dict[str, Any] = {
        "id": ev.id,
        "at": ev.when.isoformat(timespec="milliseconds"),
        "scope": f"{ev.kind}:{ev.scope}" if ev.scope or ev.kind != "global" else ev.kind,
        "target": ev.target,
        "op": ev.op,
        "key": ev.key,
    }
    for name in ("predicate", "version", "message_id", "source"):
        if getattr(ev, name) is not None:
            fields[name] = getattr(ev, name)
    if values and ev.value is not NOT_LOGGED:
        fields["value"] = ev.value.to_dict() if hasattr(ev.value, "to_dict") else ev.value
    if as_json:
        return json.dumps(fields, default=str, ensure_ascii=False)
    extra = " ".join(
        f"{k}={fields[k]!r}"
        for k in ("predicate", "version", "message_id", "source", "value")
        if k in fields
    )
    key = "" if ev.key is None else f" {ev.key}"
    return f"{fields['at']} {ev.id} {fields['scope']} {ev.target}{key} {ev.op} {extra}".rstrip()


def _watch(args: argparse.Namespace) -> int:
    try:
        with open_memory(args) as mem:
            for ev in mem.watch(
                args.pattern,
                keys=args.keys,
                after=args.after,
                values=args.values,
                timeout=args.timeout,
            ):
                print(event_line(ev, args.json, args.values), flush=True)
    except KeyboardInterrupt:
        return 130
    except ConfigurationError as exc:
        say(f"pyredmem: {exc}")
        return 2
    except PyRedMemError as exc:
        say(f"pyredmem: {exc}")
        return 1
    return 0


def _erase(args: argparse.Namespace) -> int:
    from .._keys import ScopeRef

    try:
        ref = ScopeRef.of(args.kind, args.id)
        with open_memory(args) as mem:
            where = f"{ref}" + (f" of tenant {args.tenant}" if args.tenant else "")
            if not args.yes:
                if not sys.stdin.isatty():
                    say(f"pyredmem: erasing {where} needs --yes (no terminal to ask)")
                    return 2
                answer = input(f"Erase everything stored for {where}? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    say("nothing erased")
                    return 1
            erased = mem.scope(ref.kind, ref.id or None).erase()
    except KeyboardInterrupt:
        return 130
    except ConfigurationError as exc:
        say(f"pyredmem: {exc}")
        return 2
    except PyRedMemError as exc:
        say(f"pyredmem: {exc}")
        return 1
    counts = {f: getattr(erased, f) for f in erased.__dataclass_fields__}
    if args.json:
        print(json.dumps({"scope": str(ref), **counts}))
    else:
        print(
            f"erased {ref}: " + ", ".join(f"{n} {f.replace('_', ' ')}" for f, n in counts.items())
        )
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    try:
        ring = keyring(args)
    except ConfigurationError as exc:
        say(f"pyredmem: {exc}")
        return 2
    assert ring is not None
    drawing = False  # a progress bar may be on the line: end it first
    try:
        with open_memory(args, ring=ring) as mem:
            drawing = True
            done = mem.reencrypt(progress=True)
    except KeyboardInterrupt:
        say("\ninterrupted: run it again to finish")
        return 130
    except PyRedMemError as exc:
        say(("\n" if drawing else "") + f"pyredmem: {exc}")
        return 2 if isinstance(exc, ConfigurationError) else 1
    counts = done.counts()
    if args.json:
        print(json.dumps({"primary": ring.primary, **counts}))
    else:
        print(
            f"under key {ring.primary!r}: "
            + ", ".join(f"{n} {f.replace('_', ' ')}" for f, n in counts.items())
        )
    if done.unmigrated_facts:
        say(
            f"pyredmem: {done.unmigrated_facts} fact objects were stored without encryption "
            "and stay so: add those facts again"
        )
    if done.events:
        say(
            f"pyredmem: {done.events} change-log entries keep the key they were written "
            "under until they expire (events_ttl): keep the old key until then"
        )
    if done.failed and not args.encrypt_names:
        say(
            f"pyredmem: {done.failed} values failed: if the memory encrypts names "
            "(encrypt_names=True), run it with --encrypt-names"
        )
    return 1 if done.failed else 0
