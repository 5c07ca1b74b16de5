"""Fault injection: load while the server restarts, forgets its scripts, kills connections,
pauses, loses a cluster primary, runs out of memory or refuses keys by ACL. Each test prints
its figures on lines starting with "FAULTS:" (`pytest -s` shows them).

What is checked is what the library promises: an acknowledged write is never lost, a call
that may not run twice never does (its lost reply is an OutcomeUnknownError), and every
failure is a PyRedMemError.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from pyredmem import Memory, PyRedMemError
from tests import fault_worker
from tests.engines import Server, redis_server_binary, start_cluster

pytestmark = [pytest.mark.real_server, pytest.mark.slow]


def report(test: str, **figures: Any) -> None:
    """One line of figures, for the README."""
    body = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"FAULTS: {test}: {body}", flush=True)


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pyredmem-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _stop(server: Server) -> None:
    if server.proc and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)  # a paused server cannot stop
    server.stop()


def _admin(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=10)


def _fresh_window(limit_period_choices: tuple[int, ...] = (3600, 7200, 10800, 86400)) -> int:
    """A fixed-window period whose current window has minutes left (the epoch-aligned window
    must not end during the test, or the limit would rightly admit twice)."""
    now = time.time()
    for period in limit_period_choices:
        if period - now % period > 300:
            return period
    raise AssertionError("unreachable: two of the periods cannot both end within 5 minutes")


# --- 1. mixed load through restarts, script flushes, killed connections and pauses --------

WORKERS = 8
RUN_SECONDS = 9.0
SOCKET_TIMEOUT = 0.5
PAUSE_MS = 1500  # three socket timeouts


def test_mixed_load_survives_restarts_flushes_kills_and_pauses(workdir: Path) -> None:
    server = Server(
        redis_server_binary(),
        workdir / "server",
        ("--appendonly", "yes", "--appendfsync", "always"),
    ).start()
    port = server.port
    url = f"redis://127.0.0.1:{port}?socket_timeout={SOCKET_TIMEOUT}"
    period = _fresh_window()
    ctx = multiprocessing.get_context("spawn")
    ready, go = ctx.Queue(), ctx.Event()
    outs = [workdir / f"worker{w}.json" for w in range(WORKERS)]
    procs = [
        ctx.Process(
            target=fault_worker.run,
            args=(url, w, RUN_SECONDS, period, str(outs[w]), ready, go),
            daemon=True,
        )
        for w in range(WORKERS)
    ]
    faults: Counter[str] = Counter()
    started = time.monotonic()
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        go.set()
        t0 = time.monotonic()

        def at(offset: float) -> None:
            time.sleep(max(0.0, t0 + offset - time.monotonic()))

        def kill_clients() -> None:
            with _admin(port) as admin:
                admin.client_kill_filter(_type="normal", skipme=True)
            faults["client_kills"] += 1

        def flush_scripts() -> None:
            with _admin(port) as admin:
                admin.script_flush()
            faults["script_flushes"] += 1

        def restart(hard: bool) -> None:
            assert server.proc is not None
            if hard:  # SIGKILL: only what appendfsync always wrote survives
                server.proc.kill()
                server.proc.wait(10)
            else:
                server.stop()
            time.sleep(0.3)  # the workers meet a closed port for a moment
            server.start()
            assert server.port == port, "restarted on another port"
            faults["restarts_sigkill" if hard else "restarts_sigterm"] += 1

        def pause() -> None:
            with _admin(port) as admin:
                admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
            faults["pauses"] += 1

        at(0.8)
        kill_clients()
        at(1.6)
        flush_scripts()
        at(2.4)
        restart(hard=False)
        at(3.6)
        kill_clients()
        at(4.2)
        pause()
        at(6.0)
        flush_scripts()
        kill_clients()
        at(6.8)
        restart(hard=True)
        at(8.0)
        kill_clients()
        for p in procs:
            p.join(RUN_SECONDS + 60)
        assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
        results = [json.loads(o.read_text()) for o in outs]

        foreign: Counter[str] = Counter()
        errors: Counter[str] = Counter()  # by type
        by_op: Counter[str] = Counter()  # by operation and type
        ops: Counter[str] = Counter()
        for r in results:
            foreign.update(r["foreign"])
            by_op.update(r["errors"])
            ops.update(r["ops"])
        for name, n in by_op.items():
            errors[name.split("/")[1]] += n
        traces = [r["first_trace"] for r in results if r["first_trace"]]
        assert not foreign, f"exceptions that are not PyRedMemErrors: {dict(foreign)}\n{traces[:1]}"
        assert sum(r["cache_wrong"] for r in results) == 0

        lost_sets = missing_ids = duplicate_ids = stray_ids = 0
        sets_acked = ids_acked = 0
        with Memory(f"redis://127.0.0.1:{port}") as mem:
            for r in results:
                scope = mem.user(f"w{r['worker']}")
                acked: dict[str, str] = r["acked_sets"]
                sets_acked += len(acked)
                keys = list(acked)
                for i in range(0, len(keys), 1000):
                    got = scope.get_many(keys[i : i + 1000])
                    lost_sets += sum(1 for k in keys[i : i + 1000] if got.get(k) != acked[k])
                ids = [m.id for m in scope.history("t").messages()]
                ids_acked += len(r["acked_ids"])
                duplicate_ids += len(ids) - len(set(ids))
                missing_ids += len(set(r["acked_ids"]) - set(ids))
                stray_ids += len(set(ids) - set(r["acked_ids"]) - {r["pending_id"]})
            counter = mem.user(fault_worker.COUNTER_SCOPE).get(fault_worker.COUNTER_KEY) or 0
            limiter = mem.limiter(
                fault_worker.LIMITER_NAME,
                limit=fault_worker.LIMIT,
                period=period,
                algorithm="fixed",
            )
            used = fault_worker.LIMIT - limiter.peek(fault_worker.LIMITER_SUBJECT).remaining

        incr_acked = sum(r["incr_acked"] for r in results)
        incr_unknown = sum(r["incr_unknown"] for r in results)
        admitted = sum(r["hit_admitted"] for r in results)
        hit_unknown = sum(r["hit_unknown"] for r in results)
        report(
            "mixed_load",
            workers=WORKERS,
            seconds=round(time.monotonic() - t0, 1),
            operations=sum(ops.values()),
            **{f"ops_{k}": v for k, v in sorted(ops.items())},
            errors=sum(errors.values()),
            **{f"error_{k}": v for k, v in sorted(errors.items())},
            **dict(sorted(faults.items())),
        )
        report("mixed_load", **{f"errors_of_{k}": v for k, v in sorted(by_op.items())})
        report(
            "mixed_load",
            sets_acked=sets_acked,
            sets_lost=lost_sets,
            history_ids_acked=ids_acked,
            history_ids_missing=missing_ids,
            history_ids_duplicated=duplicate_ids,
            history_ids_stray=stray_ids,
            incr_acked=incr_acked,
            incr_unknown=incr_unknown,
            counter=counter,
            hits_admitted=admitted,
            hits_denied=sum(r["hit_denied"] for r in results),
            hits_unknown=hit_unknown,
            limiter_used_on_server=used,
            limit=fault_worker.LIMIT,
        )
        assert sets_acked > 0 and ids_acked > 0 and incr_acked > 0 and admitted > 0
        assert lost_sets == 0
        assert duplicate_ids == 0 and missing_ids == 0 and stray_ids == 0
        assert incr_acked <= counter <= incr_acked + incr_unknown
        assert admitted <= fault_worker.LIMIT and used <= fault_worker.LIMIT
        assert admitted <= used <= admitted + hit_unknown
        assert faults["restarts_sigterm"] == faults["restarts_sigkill"] == 1
        assert faults["pauses"] == 1 and faults["client_kills"] == 4
    finally:
        go.set()
        for p in procs:
            if p.is_alive():
                p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
        ready.close()
        _stop(server)
        print(f"FAULTS: mixed_load: wall={time.monotonic() - started:.1f}s", flush=True)


# --- 2. a cluster primary killed mid-run ---------------------------------------------------

CLUSTER_SCOPES = 240
CLUSTER_THREADS = 3


def test_cluster_primary_killed_mid_run(workdir: Path) -> None:
    import threading

    from redis.crc import key_slot

    servers = start_cluster(workdir / "cluster")
    started = time.monotonic()
    try:
        for s in servers:  # the surviving slots keep serving while the lost ones are down
            with _admin(s.port) as admin:
                admin.config_set("cluster-require-full-coverage", "no")
        with _admin(servers[0].port) as admin:
            owner: dict[int, int] = {}  # slot -> port
            for first, last, node, *_ in admin.cluster("SLOTS"):
                for slot in range(first, last + 1):
                    owner[slot] = int(node[1])
        victim = servers[1]
        # the scope's hash tag is "{<tenant>:user:<id>}" (no tenant here)
        lost_scope = {
            f"s{i}": owner[key_slot(f"{{:user:s{i}}}".encode())] == victim.port
            for i in range(CLUSTER_SCOPES)
        }
        assert 0 < sum(lost_scope.values()) < CLUSTER_SCOPES

        url = f"redis+cluster://127.0.0.1:{servers[0].port}?socket_timeout={SOCKET_TIMEOUT}"
        tally: Counter[str] = Counter()
        foreign: Counter[str] = Counter()
        acked: dict[tuple[str, str], int] = {}
        lock = threading.Lock()
        killed = threading.Event()
        stop = threading.Event()

        kept_ids = [sid for sid, lost in lost_scope.items() if not lost]
        lost_ids = [sid for sid, lost in lost_scope.items() if lost]

        def work(t: int, mem: Memory, side: str) -> None:
            """Threads on kept scopes and threads on lost ones: a call stuck on the lost
            node must not hold up calls to the others."""
            ids = kept_ids if side == "kept" else lost_ids
            i = 0
            while not stop.is_set():
                i += 1
                sid = ids[i % len(ids)]
                scope = mem.user(sid)
                kind = ("set", "get", "incr")[i % 3]
                key = f"t{t}:{i}"
                try:
                    if kind == "set":
                        scope.set(key, i)
                        with lock:
                            acked[(sid, key)] = i
                    elif kind == "get":
                        scope.get("t0:1")
                    else:
                        scope.incr(f"n{t}")
                    outcome = "ok"
                except PyRedMemError as exc:
                    outcome = type(exc).__name__
                except Exception as exc:
                    outcome = "foreign"
                    with lock:
                        foreign[f"{type(exc).__module__}.{type(exc).__name__}: {exc}"[:300]] += 1
                phase = "after" if killed.is_set() else "before"  # as the call ended
                with lock:
                    tally[f"{phase}/{side}/{outcome}"] += 1

        with Memory(url) as mem:
            sides = ["kept"] * (CLUSTER_THREADS - 1) + ["lost"]
            threads = [
                threading.Thread(target=work, args=(t, mem, side)) for t, side in enumerate(sides)
            ]
            for th in threads:
                th.start()
            time.sleep(2.0)
            assert victim.proc is not None
            # "after" from the moment of the kill: a call that fails on the dead node must not
            # be counted before it (calls that end just before count as after: they succeeded)
            killed.set()
            killed_at = time.monotonic()
            victim.proc.kill()  # SIGKILL, no replica to take over
            victim.proc.wait(10)
            time.sleep(5.0)
            stop.set()
            for th in threads:
                th.join(30)
            after_seconds = time.monotonic() - killed_at

        with Memory(f"redis+cluster://127.0.0.1:{servers[0].port}") as mem:
            kept = {(sid, key): v for (sid, key), v in acked.items() if not lost_scope[sid]}
            by_scope: dict[str, dict[str, int]] = {}
            for (sid, key), v in kept.items():
                by_scope.setdefault(sid, {})[key] = v
            lost_writes = 0
            for sid, values in by_scope.items():
                keys = list(values)
                for i in range(0, len(keys), 1000):
                    got = mem.user(sid).get_many(keys[i : i + 1000])
                    lost_writes += sum(1 for k in keys[i : i + 1000] if got.get(k) != values[k])

        def count(phase: str, side: str, ok: bool | None = None) -> int:
            return sum(
                n
                for name, n in tally.items()
                if name.startswith(f"{phase}/{side}/")
                and (ok is None or name.endswith("/ok") == ok)
            )

        report(
            "cluster_kill",
            scopes=CLUSTER_SCOPES,
            lost_scopes=sum(lost_scope.values()),
            seconds_after_kill=round(after_seconds, 1),
            **{k.replace("/", "_"): v for k, v in sorted(tally.items())},
        )
        report(
            "cluster_kill",
            kept_writes_acked=len(kept),
            kept_writes_lost=lost_writes,
            kept_ok_after=count("after", "kept", True),
            kept_failed_after=count("after", "kept", False),
            lost_ok_after=count("after", "lost", True),
            lost_failed_after=count("after", "lost", False),
        )
        assert not foreign, f"exceptions that are not PyRedMemErrors: {dict(foreign)}"
        assert count("before", "kept", False) == count("before", "lost", False) == 0
        ok_after = count("after", "kept", True)
        assert ok_after >= 200 and ok_after >= 0.9 * count("after", "kept")
        assert count("after", "lost", False) > 0
        assert lost_writes == 0 and len(kept) > 0
    finally:
        for s in servers:
            _stop(s)
        print(f"FAULTS: cluster_kill: wall={time.monotonic() - started:.1f}s", flush=True)


# --- 3. maxmemory: refused writes under noeviction, evictions under allkeys-lru ------------


def _snapshot(admin: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key and its serialized value (DUMP: the contents, not the expiry)."""
    return {k: admin.dump(k) for k in admin.scan_iter(count=1000)}


def test_maxmemory(server: Server) -> None:
    from pyredmem import CapacityError, Message, OutOfMemoryError

    started = time.monotonic()
    with _admin(server.port) as admin, Memory(f"redis://127.0.0.1:{server.port}") as mem:
        scope = mem.user("u")
        chat = scope.history("t")
        cache = mem.cache("c", ttl=600)
        limiter = mem.limiter("api", limit=10, period=_fresh_window(), algorithm="fixed")
        sem = mem.semaphore("jobs", limit=2, lease=60)
        ctx = mem.context(user="u", session="s")
        scope.set("k", "v")
        scope.incr("n")
        chat.append(Message.user("hello", id="m1"))
        cache.set("q", "a")
        limiter.hit("alice")
        held = sem.acquire("x")
        assert held is not None
        # expired entries waiting to be purged by the next write to their scope or bucket:
        # the purge (HDEL, ZREMRANGEBYSCORE: never refused) must not let the write through
        scope.set("gone", 1, ttl=0.05)
        one = mem.cache("one", ttl=600, buckets=1)  # every entry in one bucket
        one.set("kept", 1)
        one.set("gone", 1, ttl=0.05)
        lease = one.fetch("filled").lease
        assert lease is not None
        # pairs that lost a key (as to eviction), which the next write repairs first
        mem.user("repaired").set("k", 1)
        assert admin.delete("pm:{:user:repaired}:x") == 1
        lost = mem.cache("lost", ttl=600, buckets=1)
        lost.set("k", 1)
        assert admin.delete("pm:{:cache:lost::0}:h") == 1
        time.sleep(0.1)
        before = _snapshot(admin)

        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        writes = {
            "scope.set new key": lambda: scope.set("new", "x" * 100),
            "scope.set existing key": lambda: scope.set("k", "other"),
            "scope.set_many": lambda: scope.set_many({"a": 1, "b": 2}),
            "scope.incr existing": lambda: scope.incr("n"),
            "scope.incr new": lambda: scope.incr("fresh"),
            "scope.update": lambda: scope.update("k", lambda v: v + "!"),
            "new scope set": lambda: mem.user("other").set("k", 1),
            "scope.set, index lost": lambda: mem.user("repaired").set("k2", 2),
            "context.set": lambda: ctx.set("ck", 1, scope="session"),
            "history.append": lambda: chat.append(Message.user("more", id="m2")),
            # an append to a new thread: see test_maxmemory_refuses_an_append_to_a_new_thread
            "cache.set": lambda: cache.set("q2", "b"),
            "cache.get_or_compute": lambda: cache.get_or_compute("q3", lambda: "c"),
            "cache.set, expired entry in the bucket": lambda: one.set("q2", "b"),
            "cache.get_or_compute, expired entry in the bucket": lambda: one.get_or_compute(
                "q3", lambda: "c"
            ),
            "cache.fill, expired entry in the bucket": lambda: one.fill(lease, "v"),
            "cache.set, hash lost": lambda: lost.set("k2", 2),
            "limiter.hit existing": lambda: limiter.hit("alice"),
            "limiter.hit new": lambda: limiter.hit("bob"),
            "semaphore.acquire": lambda: sem.acquire("x"),
            "semaphore.acquire new": lambda: sem.acquire("y"),
        }
        outcome: dict[str, str] = {}
        for name, write in writes.items():
            try:
                write()
                outcome[name] = "succeeded"
            except OutOfMemoryError as exc:
                assert isinstance(exc, CapacityError) and isinstance(exc, PyRedMemError)
                outcome[name] = "OutOfMemoryError"
            except PyRedMemError as exc:
                outcome[name] = type(exc).__name__
        reads = {
            "scope.get": lambda: scope.get("k") == "v",
            "scope.get_many": lambda: scope.get_many(["k", "n"]) == {"k": "v", "n": 1},
            "scope.exists": lambda: scope.exists("k"),
            "scope.keys": lambda: sorted(scope.keys()) == ["k", "n"],
            "scope.ttl": lambda: scope.ttl("k") is None,
            "context.get": lambda: ctx.get("k") == "v",
            "history.messages": lambda: [m.id for m in chat.messages()] == ["m1"],
            "history.count": lambda: chat.count() == 1,
            "scope.threads": lambda: [t.id for t in scope.threads()] == ["t"],
            "cache.get": lambda: cache.get("q") == "a",
            "limiter.peek": lambda: limiter.peek("alice").remaining == 9,
        }
        read_failures: dict[str, str] = {}
        for name, read in reads.items():
            try:
                if not read():
                    read_failures[name] = "wrong value"
            except PyRedMemError as exc:
                read_failures[name] = type(exc).__name__
        admin.config_set("maxmemory", 0)
        after = _snapshot(admin)
        changed = sorted(
            k.decode() for k in set(before) | set(after) if before.get(k) != after.get(k)
        )
        refused = sum(1 for v in outcome.values() if v == "OutOfMemoryError")
        report(
            "maxmemory_noeviction",
            writes=len(writes),
            refused_oom=refused,
            reads=len(reads),
            reads_ok=len(reads) - len(read_failures),
            keys_changed=len(changed),
        )
        not_refused = {k: v for k, v in outcome.items() if v != "OutOfMemoryError"}
        problems = {
            "writes not refused with OutOfMemoryError": not_refused,
            "reads failing at maxmemory": read_failures,
            "keys changed by refused writes": changed,
        }
        assert not any(problems.values()), problems
        assert sem.release(held)

        # allkeys-lru: far more written than fits; every read is right or absent
        admin.flushall()
        used = int(admin.info("memory")["used_memory"])
        admin.config_set("maxmemory-policy", "allkeys-lru")
        admin.config_set("maxmemory", used + 2 * 1024 * 1024)
        pad = "x" * 1000

        def value(sid: int, key: int) -> str:
            return f"{sid}:{key}:{pad}"

        scopes, keys_per_scope, threads, turns, entries = 500, 12, 250, 10, 1500
        write_errors: Counter[str] = Counter()

        def attempt(fn: Any) -> None:
            try:
                fn()
            except PyRedMemError as exc:
                write_errors[type(exc).__name__] += 1

        for sid in range(scopes):
            s = mem.user(f"s{sid}")
            half = keys_per_scope // 2  # set_many, then set
            attempt(
                lambda s=s, sid=sid, half=half: s.set_many(
                    {f"k{k}": value(sid, k) for k in range(half)}
                )
            )
            for k in range(half, keys_per_scope):
                attempt(lambda s=s, sid=sid, k=k: s.set(f"k{k}", value(sid, k)))
        for tid in range(threads):
            h = mem.user(f"h{tid}").history("t")
            for n in range(turns):
                attempt(lambda h=h, tid=tid, n=n: h.append(Message.user(value(tid, n), id=f"{n}")))
        for e in range(entries):
            attempt(lambda e=e: cache.set(f"e{e}", value(-1, e)))
        info = admin.info("stats")

        tally: Counter[str] = Counter()
        read_errors: Counter[str] = Counter()

        def judge(what: str, got: Any, expected: Any) -> None:
            if got is None:
                tally[f"{what}_absent"] += 1
            elif got == expected:
                tally[f"{what}_present"] += 1
            else:
                tally[f"{what}_wrong"] += 1

        def read(fn: Any) -> None:
            try:
                fn()
            except PyRedMemError as exc:
                read_errors[type(exc).__name__] += 1

        def read_scope(sid: int) -> None:
            s = mem.user(f"s{sid}")
            for k in range(keys_per_scope):
                judge("scope_key", s.get(f"k{k}"), value(sid, k))
            got = s.get_many([f"k{k}" for k in range(keys_per_scope)])
            for k, v in got.items():
                judge("get_many_key", v, value(sid, int(k[1:])))
            listed = s.keys()
            tally["keys_listed"] += len(listed)
            tally["keys_listed_unknown"] += len(
                set(listed) - {f"k{k}" for k in range(keys_per_scope)}
            )

        def read_thread(tid: int) -> None:
            msgs = mem.user(f"h{tid}").history("t").messages()
            tally["threads_empty" if not msgs else "threads_with_turns"] += 1
            for m in msgs:
                judge("turn", m.content, value(tid, int(m.id)))
            ids = [m.id for m in msgs]
            if ids != sorted(ids, key=int) or len(set(ids)) != len(ids):
                tally["threads_out_of_order"] += 1

        for sid in range(scopes):
            read(lambda sid=sid: read_scope(sid))
        for tid in range(threads):
            read(lambda tid=tid: read_thread(tid))
        for e in range(entries):
            read(lambda e=e: judge("cache_entry", cache.get(f"e{e}"), value(-1, e)))
        admin.config_set("maxmemory", 0)
        report(
            "maxmemory_allkeys_lru",
            maxmemory_mib=round((used + 2 * 1024 * 1024) / 2**20, 1),
            written_mib=round(
                (scopes * keys_per_scope + threads * turns + entries) * len(pad) / 2**20, 1
            ),
            evicted_keys=info["evicted_keys"],
            write_errors=sum(write_errors.values()),
            **{f"write_error_{k}": v for k, v in sorted(write_errors.items())},
            read_errors=sum(read_errors.values()),
            **{f"read_error_{k}": v for k, v in sorted(read_errors.items())},
            **dict(sorted(tally.items())),
        )
        assert info["evicted_keys"] > 0
        assert not read_errors, f"reads failing after evictions: {dict(read_errors)}"
        wrong = {k: v for k, v in tally.items() if k.endswith(("_wrong", "_unknown", "_order"))}
        assert not any(wrong.values()), wrong
        assert not write_errors, f"writes failing under allkeys-lru: {dict(write_errors)}"
    print(f"FAULTS: maxmemory: wall={time.monotonic() - started:.1f}s", flush=True)


def test_maxmemory_refuses_an_append_to_a_new_thread(server: Server) -> None:
    from pyredmem import Message, OutOfMemoryError

    with _admin(server.port) as admin, Memory(f"redis://127.0.0.1:{server.port}") as mem:
        scope = mem.user("u")
        scope.history("t").append(Message.user("hello"))
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        try:
            with pytest.raises(OutOfMemoryError):
                scope.history("t2").append(Message.user("hi"))
        finally:
            admin.config_set("maxmemory", 0)
        assert [t.id for t in scope.threads()] == ["t"]


# --- 4. an ACL user limited to one tenant ----------------------------------------------------

# every command the scripts run (lua/*.lua), the function and script calls themselves, and
# BLPOP (a cache caller waiting for another's computation)
ACL_COMMANDS = (
    "+fcall +fcall_ro +evalsha +evalsha_ro +eval +eval_ro +blpop "
    "+time +get +set +del +exists +pexpire +pexpireat +pttl +persist "
    "+hget +hmget +hset +hdel +hincrby +hscan "
    "+lindex +llen +lpop +lpush +lrange +ltrim +rpop +rpush "
    "+zadd +zcard +zcount +zmscore +zrange +zrangebyscore +zrem +zremrangebyrank "
    "+zremrangebyscore +zrevrange +zscore"
)


def _every_family(mem: Memory) -> dict[str, Any]:
    """One call of each operation family, by name."""
    import threading

    from pyredmem import Message

    scope = mem.user("u")
    chat = scope.history("t")
    limiter = mem.limiter("api", limit=100, period=_fresh_window(), algorithm="fixed")
    sem = mem.semaphore("jobs", limit=2, lease=60)
    cache = mem.cache("c", ttl=60)

    def semaphore() -> bool:
        lease = sem.acquire("x")
        assert lease is not None
        return sem.release(lease)

    def waited_compute() -> list[Any]:
        """Two callers: one computes, the other waits on the wake-up list (BLPOP)."""
        got: list[Any] = []

        def slow() -> str:
            time.sleep(0.3)
            return "computed"

        def call() -> None:
            try:
                got.append(cache.get_or_compute("slow", slow))
            except BaseException as exc:  # judged by the caller
                got.append(exc)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
        for r in got:
            if isinstance(r, BaseException):
                raise r
        return got

    return {
        "scope.set": lambda: scope.set("k", "v"),
        "scope.get": lambda: scope.get("k"),
        "scope.incr": lambda: scope.incr("n"),
        "scope.keys": lambda: sorted(scope.keys()),
        "context.get": lambda: mem.context(user="u", session="s").get("k"),
        "history.append": lambda: chat.append(Message.user("hi", id="m1")).__class__.__name__,
        "history.messages": lambda: [m.id for m in chat.messages()],
        "scope.threads": lambda: [t.id for t in scope.threads()],
        "limiter.hit": lambda: limiter.hit("alice").allowed,
        "limiter.peek": lambda: limiter.peek("alice").remaining,
        "limiter.reset": lambda: limiter.reset("alice"),
        "semaphore.acquire+release": semaphore,
        "cache.get_or_compute": lambda: cache.get_or_compute("q", lambda: "a"),
        "cache.get_or_compute waiting": waited_compute,
        "cache.set": lambda: cache.set("q2", "b"),
        "cache.delete": lambda: cache.delete("q2"),
        "scope.clear": lambda: scope.clear(),
    }


def test_acl_user_limited_to_one_tenant(server: Server) -> None:
    """A user that may touch only tenant "acme"'s keys, with the commands pyredmem needs:

        ACL SETUSER acme on >secret resetkeys ~pm:{acme:* resetchannels -@all +fcall +fcall_ro
          +evalsha +evalsha_ro +eval +eval_ro +blpop +time +get +set +del +exists +pexpire
          +pexpireat +pttl +persist +hget +hmget +hset +hdel +hincrby +hscan +lindex +llen
          +lpop +lpush +lrange +ltrim +rpop +rpush +zadd +zcard +zcount +zmscore +zrange
          +zrangebyscore +zrem +zremrangebyrank +zremrangebyscore +zrevrange +zscore

    (`pm` is the namespace; the commands after +blpop are the ones the scripts run, which
    Redis checks against the ACL too. On Redis 7.2+ and Valkey, `+client|setinfo` keeps
    redis-py's connect-time CLIENT SETINFO out of the ACL log; redis-py ignores its
    refusal, and Redis 7.0 has no such command.) The functions library is loaded by an
    administrator (`pyredmem load-functions URL`): a user allowed FUNCTION LOAD could
    replace any library. Every operation family works for Memory(url, tenant="acme") and
    raises PermissionDeniedError for any other tenant.
    """
    from pyredmem import PermissionDeniedError
    from pyredmem._dialect import LOAD

    started = time.monotonic()
    line = f"on >secret resetkeys ~pm:{{acme:* resetchannels -@all {ACL_COMMANDS}"
    with _admin(server.port) as admin:
        admin.execute_command("ACL", "SETUSER", "acme", *line.split())
        admin.execute_command(*LOAD)  # as an administrator would, once per server
        admin.execute_command("ACL", "LOG", "RESET")
        url = f"redis://acme:secret@127.0.0.1:{server.port}"
        allowed: dict[str, str] = {}
        with Memory(url, tenant="acme") as mem:
            for name, op in _every_family(mem).items():
                try:
                    op()
                    allowed[name] = "ok"
                except PyRedMemError as exc:
                    allowed[name] = f"{type(exc).__name__}: {exc}"
        denials = [
            entry
            for entry in admin.acl_log()
            if entry.get("object") != "client|setinfo"  # Redis 7.2+: ignored by redis-py
        ]
        refused: dict[str, str] = {}
        with Memory(url, tenant="globex") as mem:
            for name, op in _every_family(mem).items():
                try:
                    op()
                    refused[name] = "succeeded"
                except PermissionDeniedError:
                    refused[name] = "PermissionDeniedError"
                except PyRedMemError as exc:
                    refused[name] = f"{type(exc).__name__}: {exc}"
        leaked = [k for k in admin.scan_iter(count=1000) if not k.startswith(b"pm:{acme:")]
    report(
        "acl",
        families=len(allowed),
        acme_ok=sum(v == "ok" for v in allowed.values()),
        globex_permission_denied=sum(v == "PermissionDeniedError" for v in refused.values()),
        acl_log_entries_for_acme=len(denials),
        keys_outside_acme=len(leaked),
        seconds=round(time.monotonic() - started, 1),
    )
    problems = {
        "acme failures": {k: v for k, v in allowed.items() if v != "ok"},
        "acme ACL log": denials,
        "globex not refused": {k: v for k, v in refused.items() if v != "PermissionDeniedError"},
        "keys outside acme": leaked,
    }
    assert not any(problems.values()), problems


# --- 5. 200 threads and 200 asyncio tasks on default pools -----------------------------------

CALLERS = 200


def test_200_async_callers_and_200_threads(server: Server) -> None:
    import asyncio
    import threading

    import redis.asyncio

    from pyredmem import AsyncMemory, Message

    started = time.monotonic()
    figures: dict[str, Any] = {}

    def compute_hot() -> str:
        time.sleep(0.05)
        return "hot"

    # threads: one Memory on a client with redis-py's default pool (max_connections 100)
    client = redis.Redis(port=server.port)
    assert client.connection_pool.max_connections == 100
    errors: list[str] = []
    wrong = Counter[str]()
    with Memory(client) as mem:
        counter = mem.user("u")
        cache = mem.cache("c", ttl=60)
        barrier = threading.Barrier(CALLERS)

        def caller(i: int) -> None:
            try:
                barrier.wait(30)
                if cache.get_or_compute("hot", compute_hot) != "hot":
                    wrong["hot"] += 1
                cold = f"cold{i % 20}"
                if cache.get_or_compute(cold, lambda: cold.upper()) != cold.upper():
                    wrong["cold"] += 1
                counter.incr("n")
                h = mem.user(f"h{i % 10}").history("t")
                h.append(Message.user(f"a{i}", id=f"a{i}"))
                h.append(Message.user(f"b{i}", id=f"b{i}"))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

        t0 = time.monotonic()
        threads = [threading.Thread(target=caller, args=(i,)) for i in range(CALLERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        figures["threads_seconds"] = round(time.monotonic() - t0, 2)
        figures["threads_errors"] = len(errors)
        figures["threads_counter"] = counter.get("n")
        figures["threads_turns"] = sum(mem.user(f"h{j}").history("t").count() for j in range(10))
        figures["threads_in_use_after"] = len(client.connection_pool._in_use_connections)
        figures["threads_connections_made"] = client.connection_pool._created_connections
    client.close()

    async def tasks() -> None:
        aclient = redis.asyncio.Redis(port=server.port)
        assert aclient.connection_pool.max_connections == 100
        aerrors: list[str] = []
        async with AsyncMemory(aclient) as amem:
            counter = amem.user("au")
            cache = amem.cache("ac", ttl=60)

            async def hot() -> str:
                await asyncio.sleep(0.05)
                return "hot"

            async def caller(i: int) -> None:
                try:
                    if await cache.get_or_compute("hot", hot) != "hot":
                        wrong["ahot"] += 1
                    cold = f"cold{i % 20}"
                    if await cache.get_or_compute(cold, lambda: cold.upper()) != cold.upper():
                        wrong["acold"] += 1
                    await counter.incr("n")
                    h = amem.user(f"ah{i % 10}").history("t")
                    await h.append(Message.user(f"a{i}", id=f"a{i}"))
                    await h.append(Message.user(f"b{i}", id=f"b{i}"))
                except Exception as exc:
                    aerrors.append(f"{type(exc).__name__}: {exc}")

            t0 = time.monotonic()
            await asyncio.gather(*(caller(i) for i in range(CALLERS)))
            figures["tasks_seconds"] = round(time.monotonic() - t0, 2)
            figures["tasks_errors"] = len(aerrors)
            errors.extend(aerrors)
            figures["tasks_counter"] = await counter.get("n")
            figures["tasks_turns"] = sum(
                [await amem.user(f"ah{j}").history("t").count() for j in range(10)]
            )
            figures["tasks_in_use_after"] = len(aclient.connection_pool._in_use_connections)
        await aclient.aclose()

    asyncio.run(tasks())
    report("200_callers", callers=CALLERS, **figures, wrong_values=sum(wrong.values()))
    print(f"FAULTS: 200_callers: wall={time.monotonic() - started:.1f}s", flush=True)
    assert errors == [], errors[:5]
    assert not wrong, dict(wrong)
    assert figures["threads_counter"] == figures["tasks_counter"] == CALLERS
    assert figures["threads_turns"] == figures["tasks_turns"] == 2 * CALLERS
    assert figures["threads_in_use_after"] <= 1 and figures["tasks_in_use_after"] <= 1
