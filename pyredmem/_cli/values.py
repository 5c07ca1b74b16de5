"""`ls`, `get`, `set`, `rm`, `ttl`: what a memory holds, and its scopes' values."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from typing import Any

from .._errors import PyRedMemError
from .._keys import KINDS
from ._census import LIMITS, census, classify, scan
from ._common import (
    Failure,
    UsageError,
    add_options,
    add_scope,
    open_memory,
    say,
    scope_of,
)
from ._render import dump, show_seconds, show_value, table

__all__ = ["add_commands"]

#: operations queued in one batch (a batch holds at most 10,000)
BATCH = 5000
_ORDER = {kind: i for i, kind in enumerate((*KINDS, "cache", LIMITS))}
_MISSING = object()


def add_commands(commands: Any) -> None:
    ls = commands.add_parser(
        "ls",
        help="list tenants and kinds, a kind's scope ids, or a scope's keys",
        description="Without arguments: the tenants (every one, unless --tenant) and the "
        "kinds of what they hold (scope kinds, caches, limits). With KIND: the ids of that "
        "kind's scopes, with their values and threads. With KIND ID: the scope's keys and "
        "their time to live. Found by SCAN (on every primary of a cluster), which never "
        "blocks the server.",
    )
    ls.add_argument("kind", nargs="?", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    ls.add_argument("id", nargs="?", metavar="ID", help="a scope id ('-' for global)")
    ls.add_argument("--values", action="store_true", help="with KIND ID: show the values")
    add_options(ls)
    ls.set_defaults(run=_ls)

    get = commands.add_parser("get", help="print a value (decoded with the memory's codec)")
    add_scope(get)
    get.add_argument("key", metavar="KEY")
    add_options(get)
    get.set_defaults(run=_get)

    put = commands.add_parser("set", help="store a value (a string, or JSON with --json-value)")
    add_scope(put)
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    put.add_argument("--ttl", type=float, default=None, help="seconds (default: never)")
    put.add_argument(
        "--json-value", action="store_true", help="VALUE is JSON (a number, a list, ...)"
    )
    add_options(put)
    put.set_defaults(run=_set)

    rm = commands.add_parser("rm", help="delete a key of a scope")
    add_scope(rm)
    rm.add_argument("key", metavar="KEY")
    add_options(rm)
    rm.set_defaults(run=_rm)

    ttl = commands.add_parser("ttl", help="seconds until a key expires")
    add_scope(ttl)
    ttl.add_argument("key", metavar="KEY")
    add_options(ttl)
    ttl.set_defaults(run=_ttl)


def _ls(args: argparse.Namespace) -> int:
    if args.kind is None and args.id is not None:
        raise UsageError("ls takes KIND before ID")
    with open_memory(args) as mem:
        if args.kind is None:
            return _ls_kinds(args, mem)
        if args.id is None:
            return _ls_ids(args, mem, args.kind)
        return _ls_keys(args, mem)


def _ls_kinds(args: argparse.Namespace, mem: Any) -> int:
    groups = census(mem._runner, mem._cfg.keyspace, any_tenant=args.tenant is None, measure=False)
    rows = [
        {"tenant": tenant or None, "kind": kind, "instances": len(g.names), "keys": g.keys}
        for (tenant, kind), g in sorted(groups.items(), key=lambda i: (i[0][0], _ORDER[i[0][1]]))
    ]
    if args.json:
        print(dump(rows))
    elif rows:
        print(table(["TENANT", "KIND", "INSTANCES", "KEYS"], [_row(r) for r in rows]))
    else:
        say(f"no keys of namespace {args.namespace!r}" + _of_tenant(args))
    return 0


def _ls_ids(args: argparse.Namespace, mem: Any, kind: str) -> int:
    ks = mem._cfg.keyspace
    found: dict[str, list[int]] = {}  # id as stored -> [Redis keys, threads]
    for key in scan(mem._runner, ks.kind_pattern(kind)):
        f = classify(ks, key, any_tenant=False)
        if f is not None and f.kind == kind:
            tally = found.setdefault(f.name, [0, 0])
            tally[0] += 1
            tally[1] += f.thread is not None
    rows = []
    plain: dict[str, str] = {}
    for stored in sorted(found):
        row: dict[str, Any] = {"id": stored if kind != "global" else "-", "values": None}
        try:
            plain[stored] = ks.plain(stored, kind) if stored else ""
            row["id"] = plain[stored] or "-"
        except PyRedMemError as exc:
            row["error"] = str(exc)
        row["threads"], row["keys"] = found[stored][1], found[stored][0]
        rows.append(row)
    counts = _batched(mem, [(kind, ident) for ident in plain.values()], "keys")
    for row, stored in zip(rows, sorted(found), strict=True):
        if stored in plain:
            got = counts[(kind, plain[stored])]
            row["values"] = len(got) if isinstance(got, list) else None
    rows.sort(key=lambda r: str(r["id"]))
    if args.json:
        print(dump(rows))
    elif rows:
        print(
            table(
                ["ID", "VALUES", "THREADS", "REDIS KEYS"],
                [
                    [r["id"] + (" (name not decrypted)" if "error" in r else "")]
                    + [r["values"], r["threads"], r["keys"]]
                    for r in rows
                ],
            )
        )
    else:
        say(f"no {kind} scopes" + _of_tenant(args))
    return 0


def _batched(mem: Any, scopes: Iterable[tuple[str, str]], method: str) -> dict[Any, Any]:
    """`method`() of each scope, queued in batches: (kind, id) -> its result, or the
    PyRedMemError it raised."""
    out: dict[Any, Any] = {}
    todo = list(scopes)
    for start in range(0, len(todo), BATCH):
        chunk = todo[start : start + BATCH]
        with mem.batch() as b:
            pending = [getattr(b.scope(k, i or None), method)() for k, i in chunk]
        for scope, p in zip(chunk, pending, strict=True):
            try:
                out[scope] = p.result()
            except PyRedMemError as exc:
                out[scope] = exc
    return out


def _ls_keys(args: argparse.Namespace, mem: Any) -> int:
    scope = scope_of(mem, args.kind, args.id)
    names = scope.keys()
    ttls: list[Any] = []
    for start in range(0, len(names), BATCH):
        with mem.batch() as b:
            pending = [b.on(scope).ttl(k) for k in names[start : start + BATCH]]
        for p in pending:
            try:
                ttls.append(p.result())
            except PyRedMemError:  # expired since keys() listed it
                ttls.append(_MISSING)
    values = scope.get_many(names) if args.values and names else {}
    rows = []
    for name, ttl in zip(names, ttls, strict=True):
        if ttl is _MISSING:
            continue
        row: dict[str, Any] = {"key": name, "ttl": ttl}
        if args.values:
            row["value"] = values.get(name)
        rows.append(row)
    if args.json:
        print(dump(rows))
    elif rows:
        headers = ["KEY", "EXPIRES IN"] + (["VALUE"] if args.values else [])
        print(
            table(
                headers,
                [
                    [r["key"], show_seconds(r["ttl"])]
                    + ([show_value(r["value"])] if args.values else [])
                    for r in rows
                ],
            )
        )
    else:
        say(f"{scope.ref} holds no values")
    return 0


def _row(r: dict[str, Any]) -> list[Any]:
    return [r["tenant"] or "-", r["kind"], r["instances"], r["keys"]]


def _of_tenant(args: argparse.Namespace) -> str:
    return f" of tenant {args.tenant!r}" if args.tenant else ""


def _get(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        value = scope.get(args.key, _MISSING)
    if value is _MISSING:
        raise Failure(f"{scope.ref} has no key {args.key!r}")
    if args.json:
        print(dump({"scope": str(scope.ref), "key": args.key, "value": value}))
    else:
        print(show_value(value))
    return 0


def _set(args: argparse.Namespace) -> int:
    value: Any = args.value
    if args.json_value:
        try:
            value = json.loads(args.value)
        except ValueError as exc:
            raise UsageError(f"VALUE is not JSON: {exc}") from exc
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        scope.set(args.key, value, ttl=args.ttl)
    if args.json:
        print(dump({"scope": str(scope.ref), "key": args.key, "ttl": args.ttl}))
    else:
        print(f"set {scope.ref} {args.key}" + (f" (expires in {args.ttl:g} s)" if args.ttl else ""))
    return 0


def _rm(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        if not scope.delete(args.key):
            raise Failure(f"{scope.ref} has no key {args.key!r}")
    if args.json:
        print(dump({"scope": str(scope.ref), "key": args.key, "deleted": True}))
    else:
        print(f"deleted {scope.ref} {args.key}")
    return 0


def _ttl(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        ttl = scope.ttl(args.key)
    if args.json:
        print(dump({"scope": str(scope.ref), "key": args.key, "ttl": ttl}))
    elif ttl is None:
        print("never expires")
    else:
        print(f"expires in {show_seconds(ttl)} ({ttl:.3f} s)")
    return 0
