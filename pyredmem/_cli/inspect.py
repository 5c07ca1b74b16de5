"""`limits show`, `cache stats`, `facts`, `recall search|info`, `stats`: the state of the
other capabilities, read through the library's own operations where it has them."""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
from typing import Any

from .._keys import KINDS
from .._ops.cache import cache_pattern, parse_bucket_key
from .._ops.facts import MAX_SUBJECTS_LIMIT
from .._ops.limiter import ALGORITHMS
from ._census import LIMITS, READS_TOGETHER, census, scan
from ._common import UsageError, add_options, add_scope, open_memory, say, scope_of
from ._render import dump, pairs, show_bytes, show_seconds, show_time, show_value, table

__all__ = ["add_commands"]

_ORDER = {kind: i for i, kind in enumerate((*KINDS, "cache", LIMITS))}


def add_commands(commands: Any) -> None:
    limits = commands.add_parser("limits", help="a rate limiter's state for a subject")
    verbs = limits.add_subparsers(dest="verb", required=True, metavar="{show}")
    show = verbs.add_parser(
        "show",
        help="what a subject may still spend (peek: spends nothing)",
        description="What SUBJECT may still spend of limiter NAME, and when it is whole "
        "again, by the limiter's peek (spends nothing, writes nothing). The server keeps "
        "what was spent, not the limit: give --limit and --period as the limiter was made. "
        "The algorithm is found from what is stored unless given.",
    )
    show.add_argument("name", metavar="NAME")
    show.add_argument("subject", metavar="SUBJECT")
    show.add_argument("--limit", type=float, default=None, help="units per period (required)")
    show.add_argument("--period", type=float, default=None, help="seconds (required)")
    show.add_argument("--algorithm", choices=ALGORITHMS, default=None, help="default: found")
    show.add_argument("--burst", type=float, default=None, help="gcra's burst (default: limit)")
    show.add_argument("--group", default=None, help="the group its hits name, if any")
    show.add_argument("--cost", type=float, default=1.0, help="the cost asked about (1)")
    add_options(show)
    show.set_defaults(run=_limits_show)

    cache = commands.add_parser("cache", help="shared caches: stats")
    verbs = cache.add_subparsers(dest="verb", required=True, metavar="{stats}")
    stats = verbs.add_parser(
        "stats",
        help="entries, buckets and memory of each cache (of one: by scope)",
        description="Every cache of the tenant (found by SCAN): its scopes, buckets, live "
        "entries and memory; with NAME, that cache by scope. Hits and misses are counted "
        "in each process (Cache.near_stats), not on the server.",
    )
    stats.add_argument("name", nargs="?", metavar="NAME")
    add_options(stats)
    stats.set_defaults(run=_cache_stats)

    facts = commands.add_parser(
        "facts",
        help="a scope's subjects, or a subject's facts (with --predicate: every version)",
        description="Without SUBJECT, the subjects with facts in scope KIND ID (every one "
        "ever recorded until a clear, in the order of their stored text). With SUBJECT, "
        "what its facts say: every predicate and its object, valid at --as-of as believed "
        "at --known-at (both default: now); with --predicate, every version recorded for "
        "it, superseded ones included.",
    )
    add_scope(facts)
    facts.add_argument("subject", nargs="?", metavar="SUBJECT")
    facts.add_argument("--predicate", default=None, help="show this predicate's versions")
    facts.add_argument("--as-of", default=None, help="world time: ISO 8601 or epoch seconds")
    facts.add_argument("--known-at", default=None, help="recording time: the same")
    add_options(facts)
    facts.set_defaults(run=_facts)

    recall = commands.add_parser("recall", help="a scope's recall index: search, info")
    verbs = recall.add_subparsers(dest="verb", required=True, metavar="{search,info}")
    search = verbs.add_parser("search", help="the items most similar to QUERY")
    add_scope(search)
    search.add_argument("query", metavar="QUERY")
    search.add_argument("-k", type=int, default=5, help="how many (5)")
    search.add_argument("--item-kind", default=None, help="only items of this kind")
    search.add_argument("--min-score", type=float, default=None)
    search.add_argument(
        "--embedder",
        default=None,
        metavar="MODULE:NAME",
        help="the embedder that filled the index (an Embedder, or a class made with no "
        "arguments; default: the memory's default, HashingEmbedder)",
    )
    add_options(search)
    search.set_defaults(run=_recall_search)
    info = verbs.add_parser("info", help="the index's items and embedder")
    add_scope(info)
    add_options(info)
    info.set_defaults(run=_recall_info)

    stats = commands.add_parser(
        "stats",
        help="keys, memory and turns per tenant and kind",
        description="Every key of the namespace (of --tenant, else of every tenant), found "
        "by SCAN on every primary: keys, memory (MEMORY USAGE; on a database of more than "
        "100,000 keys, about 20,000 keys are measured and the rest estimated, marked '~') "
        "and conversation turns, per tenant and kind. A progress bar on stderr on large "
        "databases.",
    )
    add_options(stats, encryption=False)
    stats.set_defaults(run=_stats)


# ------------------------------------------------------------------------------ limits


def _limits_show(args: argparse.Namespace) -> int:
    if args.limit is None or args.period is None:
        raise UsageError(
            "give --limit and --period as the limiter was made: the server keeps what was "
            "spent, not the limit"
        )
    with open_memory(args) as mem:
        algorithm = args.algorithm or _stored_algorithm(mem, args)
        limiter = mem.limiter(
            args.name,
            limit=args.limit,
            period=args.period,
            algorithm=algorithm or "gcra",
            burst=args.burst if (algorithm or "gcra") == "gcra" else None,
        )
        decision = limiter.peek(args.subject, args.cost, group=args.group)
    state = {
        "name": args.name,
        "subject": args.subject,
        "algorithm": algorithm,  # None: nothing stored, the subject has spent nothing
        "limit": decision.limit,
        "period": args.period,
        "remaining": decision.remaining,
        "allowed": decision.allowed,
        "retry_after": decision.retry_after,
        "reset_after": decision.reset_after,
    }
    if args.json:
        print(dump(state))
        return 0
    how = algorithm or "nothing stored: unspent"
    print(f"limiter {args.name} for {args.subject} ({how}; {args.limit:g} per {args.period:g} s)")
    cost = "" if args.cost == 1 else f" of cost {args.cost:g}"
    verdict = (
        "allowed"
        if decision.allowed
        else f"denied, allowed in {show_seconds(decision.retry_after)}"
    )
    print(
        pairs(
            [
                ("remaining", f"{decision.remaining:g} of {decision.limit:g}"),
                ("whole again in", show_seconds(decision.reset_after)),
                (f"next hit{cost}", verdict),
            ]
        )
    )
    return 0


def _stored_algorithm(mem: Any, args: argparse.Namespace) -> str | None:
    """The algorithm whose key the subject has (the limiter's keys name it), or None."""
    keys = [
        mem.limiter(args.name, limit=args.limit, period=args.period, algorithm=a).rule.keys(
            args.subject, args.group
        )[0]
        for a in ALGORITHMS
    ]
    replies = mem._runner.pipelined([("EXISTS", key) for key in keys])
    for algorithm, reply in zip(ALGORITHMS, replies, strict=True):
        if isinstance(reply, Exception):
            raise reply
        if reply:
            return algorithm
    return None


# ------------------------------------------------------------------------------- cache


def _cache_stats(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        ks, runner = mem._cfg.keyspace, mem._runner
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for key in scan(runner, cache_pattern(ks, args.name)):
            bucket = parse_bucket_key(ks, key)
            if bucket is None or (args.name is not None and bucket.name != args.name):
                continue
            row = found.setdefault(
                (bucket.name, bucket.scope_label), {"buckets": set(), "index": [], "keys": []}
            )
            row["buckets"].add(bucket.bucket)
            row["keys"].append(key)
            if bucket.suffix == "x":
                row["index"].append(key)
        now_ms = _server_ms(runner)
        reads: list[tuple[dict[str, Any], tuple[Any, ...], str]] = []
        for row in found.values():
            row.update(entries=0, memory=0)
            reads += [(row, ("ZCOUNT", k, f"({now_ms}", "+inf"), "entries") for k in row["index"]]
            reads += [(row, ("MEMORY", "USAGE", k), "memory") for k in row["keys"]]
        for start in range(0, len(reads), READS_TOGETHER):
            chunk = reads[start : start + READS_TOGETHER]
            replies = runner.pipelined([command for _, command, _ in chunk])
            for (row, _, what), reply in zip(chunk, replies, strict=True):
                if isinstance(reply, Exception) or row[what] is None:
                    row[what] = None  # the embedded store has no MEMORY USAGE
                else:
                    row[what] += int(reply or 0)
        labels = {label: ks.plain_label(label) if label else "" for _, label in found}
    by_cache: dict[str, dict[str, Any]] = {}
    for (name, _), row in sorted(found.items()):
        total = by_cache.setdefault(
            name, {"cache": name, "scopes": 0, "buckets": 0, "entries": 0, "memory": 0}
        )
        total["scopes"] += 1
        total["buckets"] += len(row["buckets"])
        total["entries"] += row["entries"]
        total["memory"] = (
            None if None in (total["memory"], row["memory"]) else total["memory"] + row["memory"]
        )
    if args.name is not None:
        rows = [
            {
                "cache": name,
                "scope": labels[label] or None,
                "buckets": len(row["buckets"]),
                "entries": row["entries"],
                "memory": row["memory"],
            }
            for (name, label), row in sorted(found.items())
        ]
        headers, cells = (
            ["SCOPE", "BUCKETS", "ENTRIES", "MEMORY"],
            [
                [r["scope"] or "(none)", r["buckets"], r["entries"], show_bytes(r["memory"])]
                for r in rows
            ],
        )
    else:
        rows = list(by_cache.values())
        headers, cells = (
            ["CACHE", "SCOPES", "BUCKETS", "ENTRIES", "MEMORY"],
            [
                [r["cache"], r["scopes"], r["buckets"], r["entries"], show_bytes(r["memory"])]
                for r in rows
            ],
        )
    if args.json:
        print(dump(rows))
    elif rows:
        print(table(headers, cells))
    else:
        say("no cache entries" + (f" of cache {args.name!r}" if args.name else ""))
    return 0


def _server_ms(runner: Any) -> int:
    """The server's clock in milliseconds (the first primary's)."""
    node = next(iter(runner.primaries().values()))
    seconds, micros = runner.on_node(node, "TIME")
    return int(seconds) * 1000 + int(micros) // 1000


# ------------------------------------------------------------------------------- facts


def _when(text: str | None, what: str) -> Any:
    """A time given on the command line: epoch seconds or ISO 8601 (naive: UTC)."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"{what} is epoch seconds or ISO 8601, not {text!r}") from exc


def _facts(args: argparse.Namespace) -> int:
    if args.subject is None:
        return _facts_subjects(args)
    as_of, known_at = _when(args.as_of, "--as-of"), _when(args.known_at, "--known-at")
    with open_memory(args) as mem:
        facts = scope_of(mem, args.kind, args.id).facts
        if args.predicate is None:
            about = facts.about(args.subject, as_of=as_of, known_at=known_at)
        else:
            versions = facts.history(args.subject, args.predicate)
    if args.predicate is None:
        if args.json:
            print(dump({"subject": args.subject, "facts": about}))
        elif about:
            print(table(["PREDICATE", "OBJECT"], [[p, show_value(o)] for p, o in about.items()]))
        else:
            say(f"no facts about {args.subject!r}")
        return 0
    if args.json:
        print(dump([_fact_dict(f) for f in versions]))
    elif versions:
        print(
            table(
                ["OBJECT", "VALID FROM", "VALID TO", "RECORDED", "SUPERSEDED", "SOURCE"],
                [
                    [
                        show_value(f.object),
                        show_time(f.valid_from),
                        show_time(f.valid_to),
                        show_time(f.recorded_from),
                        show_time(f.recorded_to),
                        f.source,
                    ]
                    for f in versions
                ],
            )
        )
    else:
        say(f"no versions of {args.subject!r} {args.predicate!r}")
    return 0


def _facts_subjects(args: argparse.Namespace) -> int:
    """`facts KIND ID`: every subject of the scope, a page per call."""
    for option, value in (
        ("--predicate", args.predicate),
        ("--as-of", args.as_of),
        ("--known-at", args.known_at),
    ):
        if value is not None:
            raise UsageError(f"{option} reads a SUBJECT's facts: give a SUBJECT")
    subjects: list[str] = []
    with open_memory(args) as mem:
        scope = scope_of(mem, args.kind, args.id)
        while True:
            after = subjects[-1] if subjects else None
            page = scope.facts.subjects(limit=MAX_SUBJECTS_LIMIT, after=after)
            subjects += page
            if len(page) < MAX_SUBJECTS_LIMIT:
                break
    if args.json:
        print(dump({"scope": str(scope.ref), "subjects": subjects}))
    elif subjects:
        print("\n".join(subjects))
    else:
        say(f"no facts in {scope.ref}")
    return 0


def _fact_dict(fact: Any) -> dict[str, Any]:
    return {
        name: getattr(fact, name)
        for name in (
            "subject",
            "predicate",
            "object",
            "valid_from",
            "valid_to",
            "recorded_from",
            "recorded_to",
            "source",
            "confidence",
            "id",
        )
    }


# ------------------------------------------------------------------------------ recall


def _embedder(path: str | None) -> Any:
    """The embedder MODULE:NAME names (a class is made with no arguments). A name that
    cannot be imported, or a class that cannot be made so, is a UsageError."""
    if path is None:
        return None
    module, sep, name = path.partition(":")
    if not sep or not module or not name:
        raise UsageError(f"--embedder is MODULE:NAME, not {path!r}")
    try:
        found: Any = importlib.import_module(module)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import the embedder {path!r}: {exc}") from exc
    if not isinstance(found, type):
        return found
    try:
        return found()
    except Exception as exc:  # whatever its constructor raises, e.g. a missing argument
        raise UsageError(f"cannot make the embedder {path!r} with no arguments: {exc}") from exc


def _recall_search(args: argparse.Namespace) -> int:
    with open_memory(args, embedder=_embedder(args.embedder)) as mem:
        recall = scope_of(mem, args.kind, args.id).recall
        hits = recall.search(args.query, k=args.k, min_score=args.min_score, kind=args.item_kind)
    if args.json:
        print(dump([_hit_dict(h) for h in hits]))
    elif hits:
        print(
            table(
                ["SCORE", "ID", "KIND", "ADDED (UTC)", "TEXT"],
                [[f"{h.score:.3f}", h.id, h.kind, show_time(h.created_at), h.text] for h in hits],
            )
        )
    else:
        say("nothing found")
    return 0


def _hit_dict(hit: Any) -> dict[str, Any]:
    names = ("id", "score", "text", "kind", "meta", "created_at")
    return {name: getattr(hit, name) for name in names}


def _recall_info(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        info = scope_of(mem, args.kind, args.id).recall.info()
    fields = ("backend", "count", "embedder", "dimension", "vector_format")
    state = {name: getattr(info, name) for name in fields}
    if args.json:
        print(dump(state))
    else:
        print(pairs(list(state.items())))
    return 0


# ------------------------------------------------------------------------------- stats


def _stats(args: argparse.Namespace) -> int:
    with open_memory(args) as mem:
        groups = census(
            mem._runner, mem._cfg.keyspace, any_tenant=args.tenant is None, measure=True
        )
    rows: list[dict[str, Any]] = [
        {
            "tenant": tenant or None,
            "kind": kind,
            "instances": len(g.names),
            "keys": g.keys,
            "memory": g.memory_estimate,
            "memory_sampled": g.sampled,
            "threads": g.threads,
            "turns": g.turns,
        }
        for (tenant, kind), g in sorted(groups.items(), key=lambda i: (i[0][0], _ORDER[i[0][1]]))
    ]
    if args.json:
        print(dump(rows))
        return 0
    if not rows:
        say(f"no keys of namespace {args.namespace!r}")
        return 0
    memory = [r["memory"] for r in rows]
    total_memory = None if None in memory else sum(m for m in memory if m is not None)
    cells = [
        [
            r["tenant"] or "-",
            r["kind"],
            r["instances"],
            r["keys"],
            ("~" if r["memory_sampled"] else "") + show_bytes(r["memory"]),
            r["turns"],
        ]
        for r in rows
    ]
    cells.append(
        [
            "total",
            "-",
            None,
            sum(r["keys"] for r in rows),
            ("~" if any(r["memory_sampled"] for r in rows) else "") + show_bytes(total_memory),
            sum(r["turns"] for r in rows),
        ]
    )
    print(table(["TENANT", "KIND", "INSTANCES", "KEYS", "MEMORY", "TURNS"], cells))
    if total_memory is None:
        say("memory: not measured (this server has no MEMORY USAGE)")
    return 0
