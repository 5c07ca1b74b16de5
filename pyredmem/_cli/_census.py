"""What the database holds, found by SCAN on every primary: keys named and sorted through
their owners (`Keyspace.tenant_of` and `scope_key`, `cache.parse_bucket_key`), then
measured with plain pipelined reads (LLEN, MEMORY USAGE), sampled on large databases."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .._keys import Keyspace
from .._ops.cache import parse_bucket_key
from .._ops.thread import thread_of
from .._watching import scan_reply
from ._render import Bar

__all__ = ["LARGE", "SAMPLE", "Found", "Group", "census", "classify", "database_size", "scan"]

#: SCAN's COUNT: hash table slots one step visits
SCAN_COUNT = 1000
#: a database of more keys than this is large: progress bars, and memory sampled
LARGE = 100_000
#: on a large database, about this many keys are measured with MEMORY USAGE (every n-th
#: key of each tenant and kind, its first included)
SAMPLE = 20_000
#: reads sent in one pipeline
READS_TOGETHER = 1000
#: the kind of a key of the namespace that is neither a scope's nor a cache's: a
#: rate limiter's or a semaphore's
LIMITS = "limits"


@dataclass(frozen=True, slots=True)
class Found:
    """A key of the namespace: its tenant ("" for none), kind (a scope kind, "cache" or
    "limits"), name (the scope id as stored, or the cache's name; the key itself for
    limits), what follows its hash tag, and for a thread's turn list the thread id as
    stored."""

    key: str
    tenant: str
    kind: str
    name: str
    suffix: str
    thread: str | None = None


def classify(keyspace: Keyspace, key: str, *, any_tenant: bool) -> Found | None:
    """What `key` is, or None when it is no key of `keyspace`'s namespace (and tenant,
    unless `any_tenant`)."""
    tenant = keyspace.tenant_of(key)
    if tenant is None or (not any_tenant and tenant != (keyspace.tenant or "")):
        return None
    ks = keyspace if tenant == (keyspace.tenant or "") else _keyspace(keyspace.namespace, tenant)
    scoped = ks.scope_key(key)
    if scoped is not None:
        kind, stored, suffix = scoped
        return Found(key, tenant, kind, stored, suffix, thread_of(suffix))
    bucket = parse_bucket_key(ks, key)
    if bucket is not None:
        return Found(key, tenant, "cache", bucket.name, bucket.suffix)
    return Found(key, tenant, LIMITS, key, "")


@functools.lru_cache(maxsize=1024)
def _keyspace(namespace: str, tenant: str) -> Keyspace:
    """Another tenant's keyspace (its names are not read: no ciphers)."""
    return Keyspace(namespace, tenant or None)


def database_size(runner: Any) -> int:
    """The keys of the database, on every primary (DBSIZE: every namespace's)."""
    return sum(int(runner.on_node(node, "DBSIZE")) for node in runner.primaries().values())


def scan(runner: Any, pattern: str, on_step: Callable[[int], None] | None = None) -> Iterator[str]:
    """The keys `pattern` matches, by SCAN on every primary; `on_step` hears how many hash
    table slots each step visited (about SCAN_COUNT)."""
    for node in runner.primaries().values():
        cursor = 0
        while True:
            reply = runner.on_node(node, "SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)
            cursor, keys = scan_reply(reply)
            if on_step is not None:
                on_step(SCAN_COUNT)
            yield from keys
            if cursor == 0:
                break


@dataclass(slots=True)
class Group:
    """The keys of one tenant and kind: how many, their names, the memory of those
    measured, and their turns."""

    keys: int = 0
    names: set[str] = field(default_factory=set)
    measured: int = 0
    memory: int | None = 0
    turns: int = 0
    threads: int = 0

    @property
    def sampled(self) -> bool:
        return 0 < self.measured < self.keys

    @property
    def memory_estimate(self) -> int | None:
        """The group's memory: measured, or scaled up from the keys measured."""
        if self.memory is None or not self.measured:
            return None
        return round(self.memory * self.keys / self.measured)


def census(
    runner: Any,
    keyspace: Keyspace,
    *,
    any_tenant: bool,
    measure: bool,
    progress: bool | None = None,
) -> dict[tuple[str, str], Group]:
    """Every key of the namespace (of `keyspace`'s tenant unless `any_tenant`), counted by
    (tenant, kind); with `measure`, their memory (every key, or a sample of about SAMPLE
    on a large database) and their turns (LLEN of every thread). A bar on stderr on a
    large database (`progress` None), always (True) or never (False)."""
    total = database_size(runner)
    draw = total > LARGE if progress is None else progress
    every = max(1, math.ceil(total / SAMPLE)) if total > LARGE else 1
    groups: dict[tuple[str, str], Group] = {}
    to_measure: list[tuple[Group, str]] = []
    threads: list[tuple[Group, str]] = []
    pattern = keyspace.namespace_pattern() if any_tenant else keyspace.tenant_pattern()
    bar = Bar("scanning ", total, enabled=draw)
    for key in scan(runner, pattern, bar.advance):
        found = classify(keyspace, key, any_tenant=any_tenant)
        if found is None:
            continue
        group = groups.setdefault((found.tenant, found.kind), Group())
        group.keys += 1
        group.names.add(found.name)
        if not measure:
            continue
        if found.thread is not None:
            group.threads += 1
            threads.append((group, key))
        if (group.keys - 1) % every == 0:  # the first key of each group, then every n-th
            to_measure.append((group, key))
    bar.close()
    if measure:
        _measure(runner, to_measure, threads, draw)
    return groups


def _measure(
    runner: Any,
    to_measure: list[tuple[Group, str]],
    threads: list[tuple[Group, str]],
    draw: bool,
) -> None:
    # MEMORY USAGE's key is its third word: the pipelines route it by its key as they
    # route any command (on a cluster, to the node that holds it)
    reads: list[tuple[Group, tuple[str, ...], str]]
    reads = [(g, ("MEMORY", "USAGE", k), "memory") for g, k in to_measure]
    reads += [(g, ("LLEN", k), "turns") for g, k in threads]
    bar = Bar("measuring", len(reads), enabled=draw)
    for start in range(0, len(reads), READS_TOGETHER):
        chunk = reads[start : start + READS_TOGETHER]
        replies = runner.pipelined([command for _, command, _ in chunk])
        for (group, _, what), reply in zip(chunk, replies, strict=True):
            if isinstance(reply, Exception):
                if what == "memory":
                    group.memory = None  # not measurable here (the embedded store)
                continue
            if what == "turns":
                group.turns += int(reply)
            elif group.memory is not None and reply is not None:
                group.memory += int(reply)
                group.measured += 1
        bar.advance(len(chunk))
    bar.close()
