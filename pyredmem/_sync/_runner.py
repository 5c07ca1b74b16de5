# Generated from pyredmem/_async/_runner.py by scripts/unasync.py: do not edit.
"""Sends Calls: EVALSHA (EVALSHA_RO for calls that write nothing), EVAL on NOSCRIPT.

Every redis-py exception becomes a PyRedMemError here (`_connect.translate`), and here only.
A call whose script may not run twice (`Script.retry` false) is never sent twice, whatever
the client's retry settings: on a standalone server the lane sees to it, on a cluster the
call names its node, which turns redis-py's own retries off for it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import redis
from redis.exceptions import (
    ClusterDownError,
    MaxConnectionsError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._connect import Lost, made, open_sync, prepare_sync, translate
from .._dialect import LOAD, Dialect, Refused, is_missing, is_refusal
from .._errors import BackendUnavailableError, PyRedMemError
from .._ops._call import Call
from ._gate import gate_for
from ._lane import REFUSED, Lane, exchange
from ._sleep import sleep

T = TypeVar("T")

# seconds a waiter sleeps when too many others already block in BLPOP
POLL = 0.05

# in place of a reply: the call is to be sent again alone (a nil reply is None)
AGAIN = object()

_FAILURES = (RedisError, RedisClusterException, Lost)

# whether the cluster client has pub/sub to one node (asyncio: redis-py 8.0 and later)
_CLUSTER_PUBSUB = hasattr(redis.cluster.RedisCluster, "pubsub")

# a cluster call that fails this way ran nowhere (the slot is moving, or has no node now,
# or the node refused it: loading its data, credentials)
_NOT_RUN = (ClusterDownError, TryAgainError, MaxConnectionsError, *REFUSED)
# ... and this way, maybe somewhere
_MAYBE_RUN = (RedisConnectionError, RedisTimeoutError)


class Closable(Protocol):
    """What the runner closes before its client: watches and their background handles."""

    def close(self) -> None: ...


class Runner:
    """Owns the client; every operation goes through `run` (or `run_all` for a batch that
    Redis Cluster must split across nodes, sent as one pipeline). Watchers reach the
    server's nodes, pub/sub and logs through the methods at the end."""

    #: calls run now (a batch's recorder, which keeps them to send later, says True)
    recording = False

    def __init__(
        self, target: Any, *, read_from_replicas: bool = False, functions: bool = True
    ) -> None:
        conn = open_sync(target, replicas=read_from_replicas)
        self._conn = conn
        self._prepared = not conn.cluster
        self._client: Any = conn.client
        self.cluster = conn.cluster
        self.embedded = conn.embedded
        self._owned = conn.owned
        self._dialect = Dialect(functions=functions, ro=not conn.embedded)
        self._replicas = conn.replicas  # cluster: read-only calls go to a replica
        # Sentinel: read-only calls go to the replicas' client (EVALSHA_RO: a replica cannot
        # load the functions library, it gets it from its primary)
        self._reader = None if conn.reader is None else Runner(conn.reader, functions=False)
        self._lane = None if conn.cluster else Lane.of(conn.client, dialect=self._dialect)
        gate = None if conn.cluster else gate_for(conn.client)
        self._gate = gate[0] if gate else None
        self._wait_slots = gate[1] if gate else 1 << 30
        self._waiting = 0  # blocking waits in progress
        # (node, "" for the library or a script's name for the EVALSHA fallback), for what
        # a server is known to hold; bounded by nodes x scripts
        self._ran: set[tuple[str, str]] = set()
        self._handles: set[Closable] = set()  # closed first by close

    @property
    def client(self) -> Any:
        """The redis-py client (a sync cluster client is made on first use)."""
        if self._client is None:
            self._client = made(self._conn)
        return self._client

    def _prepare(self) -> None:
        try:
            prepare_sync(self.client, self.cluster)
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc
        self._prepared = True

    def run(self, call: Call[T]) -> T:
        if self._reader is not None and call.readonly:
            try:
                return self._reader.run(call)
            except BackendUnavailableError:
                pass  # no replica answers: the primary does
        if not self._prepared:
            self._prepare()
        try:
            try:
                reply = self._dispatch(call)
            except Refused as refusal:  # it did not run: send it the other way
                self._dialect.give_up_functions(refusal)
                reply = self._dispatch(call)
            if not self.cluster and call.command is None:  # see settle
                self._ran.add(("", "" if self._dialect.functions else call.script.name))
        except _FAILURES as exc:
            raise translate(exc, key=call.key, scope=call.scope) from exc
        return call.parse(reply)

    def _dispatch(self, call: Call[Any]) -> Any:
        if self.cluster:
            return self._send_cluster(call)
        if self._gate is None:
            return self._send_standalone(call)
        # beyond the gate's slots, calls queue here rather than fail for want of a
        # connection (the pool raises as soon as it has none left)
        with self._gate:
            return self._send_standalone(call)

    def _send_standalone(self, call: Call[Any]) -> Any:
        if self._lane is not None:
            return self._lane.send(call)
        # the embedded store, and the clients the lane does not serve: through the
        # client's own command path (its retry policy applies)
        return exchange(self._execute, call, self._dialect)

    def _execute(self, command: tuple[Any, ...]) -> Any:
        return self.client.execute_command(*command)

    def _send_cluster(self, call: Call[Any]) -> Any:
        """To the node serving the call's slot (named, so redis-py neither retries the call
        nor asks the server for its keys; MOVED and ASK are still followed). A call that may
        run twice is tried again, up to the client's retry count, after failures that leave
        the cluster time to heal; one that may not is tried again only when it surely did
        not run."""
        client = self.client
        key = call.keys[0]

        def execute(command: tuple[Any, ...]) -> Any:
            if command is LOAD:
                # on every primary at once: a later call to another node (a read during a
                # write pause, which FUNCTION LOAD would wait out) finds it there. The nodes
                # are listed, not named by the PRIMARIES flag, which redis-py 8.1's asyncio
                # client routes by the command's keys (FUNCTION LOAD has none: refused)
                primaries = client.get_primaries()
                return client.execute_command(*command, target_nodes=primaries)
            # the node is looked up for each command: a MOVED reply to the first updates the
            # slot map, and the library must then be loaded where the slot went
            node = client.get_node_from_key(key)
            return client.execute_command(*command, target_nodes=node)

        tries = 1 + max(0, client.retry.get_retries())
        for attempt in range(tries):
            if self._replicas and call.readonly:
                replica = client.get_node_from_key(call.keys[0], replica=True)
                if replica is not None:
                    try:
                        return self._on_replica(client, replica, call)
                    except _MAYBE_RUN:
                        pass  # the replica is unreachable: its primary answers
            try:
                reply = exchange(execute, call, self._dialect)
            except _NOT_RUN:
                if attempt + 1 == tries:
                    raise
            except _MAYBE_RUN as exc:
                if not call.script.retry:
                    raise Lost(str(exc)) from exc
                if attempt + 1 == tries:
                    raise
            else:
                if call.command is None:  # the node runs these now (see settle)
                    self._saw(call)
                return reply
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _on_replica(self, client: Any, node: Any, call: Call[Any]) -> Any:
        """`call` (read-only) on a replica; where the replica lacks the library (its primary
        has not loaded it yet), on the primary, which loads it for both."""

        def execute(command: tuple[Any, ...]) -> Any:
            return client.execute_command(*command, target_nodes=node)

        try:
            return exchange(execute, call, self._dialect, load=False)
        except ResponseError as error:
            if not is_missing(error):
                raise
        primary = client.get_node_from_key(call.keys[0])

        def on_primary(command: tuple[Any, ...]) -> Any:
            return client.execute_command(*command, target_nodes=primary)

        return exchange(on_primary, call, self._dialect)

    def run_all(self, calls: Sequence[Call[T]]) -> list[T]:
        """Each call's result, in order, for calls sent together (see `settle`); raises the
        first call's error, if any failed."""
        if len(calls) == 1:
            return [self.run(calls[0])]
        outcomes = self.settle(calls)
        for outcome in outcomes:
            if isinstance(outcome, PyRedMemError):
                raise outcome
        return outcomes

    def settle(self, calls: Sequence[Call[Any]]) -> list[Any]:
        """Each call's parsed reply, or the PyRedMemError it raised, in order, for calls
        sent together: one pipeline on a standalone server, one per node on a cluster
        (each call atomic on its own: no MULTI), run in the order given. A call whose
        function or script this runner has not yet seen the server run goes alone through
        `run` (which loads what the server lacks), between the calls before and after it,
        so the batch keeps its order: one more round trip, the first time only. A call a
        node turns out to lack its library or script for anyway (a restart meanwhile), or
        refuses as FCALL, goes again through `run` after the others; so does a call whose
        reply the connection lost, if it may run twice (if not: OutcomeUnknownError)."""
        if not self._prepared:  # a cluster's slots are known before `_seen` looks one up
            self._prepare()
        out: list[Any] = []
        start = 0
        for i, call in enumerate(calls):
            if call.command is None and not self._seen(call):
                if start < i:
                    out += self._settle_together(calls[start:i])
                out.append(self._settled(call, AGAIN))
                start = i + 1
        if start < len(calls):
            out += self._settle_together(calls[start:])
        return out

    def _seen(self, call: Call[Any]) -> bool:
        """Has the server (the cluster node of the call's slot) run `call`'s function (any
        of them: they load together) or script?"""
        return self._mark(call) in self._ran

    def _saw(self, call: Call[Any]) -> None:
        self._ran.add(self._mark(call))

    def _mark(self, call: Call[Any]) -> tuple[str, str]:
        node = self.client.get_node_from_key(call.keys[0]).name if self.cluster else ""
        return node, "" if self._dialect.functions else call.script.name

    def _settle_together(self, calls: Sequence[Call[Any]]) -> list[Any]:
        try:
            if not self._prepared:
                self._prepare()
            replies = self._send_together(calls)
        except PyRedMemError as exc:
            return [exc] * len(calls)
        except _FAILURES as exc:
            return [translate(exc, key=c.key, scope=c.scope) for c in calls]
        out: list[Any] = [None] * len(calls)
        again = []
        for i, (call, reply) in enumerate(zip(calls, replies, strict=True)):
            if isinstance(reply, NoScriptError) or is_missing(reply) or is_refusal(reply):
                again.append(i)
            else:
                out[i] = self._settled(call, reply)
        if again:
            out[again[0]] = self._settled(calls[again[0]], AGAIN)
            rest = self._settle_together([calls[i] for i in again[1:]])
            for i, outcome in zip(again[1:], rest, strict=True):
                out[i] = outcome
        return out

    def _send_together(self, calls: Sequence[Call[Any]]) -> list[Any]:
        commands = [self._dialect.command(call) for call in calls]
        if self._lane is not None:  # not sent twice, unlike redis-py's pipelines
            if self._gate is None:
                return self._lane.send_all(commands)
            with self._gate:
                return self._lane.send_all(commands)
        pipe = self.client.pipeline(transaction=False)
        for call, command in zip(calls, commands, strict=True):
            options = {}
            if self.cluster:
                # naming the node spares redis-py's cluster pipeline a COMMAND GETKEYS round
                # trip per command (it lacks the EVALSHA shortcut single calls have)
                options["target_nodes"] = self.client.get_node_from_key(call.keys[0])
            pipe.execute_command(*command, **options)
        if self._gate is None:
            return list(pipe.execute(raise_on_error=False))
        with self._gate:
            return list(pipe.execute(raise_on_error=False))

    def _settled(self, call: Call[Any], reply: Any) -> Any:
        """`call`'s outcome from its reply in a pipeline (AGAIN: send it again alone)."""
        try:
            if reply is AGAIN or isinstance(reply, _NOT_RUN):
                outcome = self.run(call)
                self._saw(call)
                return outcome
            if isinstance(reply, (*_MAYBE_RUN, OSError)):
                if call.script.retry:
                    return self.run(call)
                raise Lost(str(reply)) from reply
            if isinstance(reply, Exception):
                raise reply
            self._saw(call)
            return call.parse(reply)
        except PyRedMemError as exc:
            return exc
        except _FAILURES as exc:
            return translate(exc, key=call.key, scope=call.scope)

    def blpop(
        self, key: str, timeout: float, *, about: str | None = None, scope: str | None = None
    ) -> Any:
        """Wait up to `timeout` seconds for an element of list `key`, or None. A BLPOP holds
        a connection while it waits: when half the memory's share of the pool is already
        waiting, this waits POLL seconds without one instead (the caller looks again)."""
        if self._waiting >= self._wait_slots:
            sleep(min(timeout, POLL))
            return None
        self._waiting += 1
        try:
            if self._gate is None:
                return self.client.blpop([key], timeout=timeout)
            with self._gate:
                return self.client.blpop([key], timeout=timeout)
        except _FAILURES as exc:
            raise translate(exc, key=about, scope=scope) from exc
        finally:
            self._waiting -= 1

    # -- what watchers (pyredmem/_async/watch.py) need: nodes, pub/sub, pipelined reads --

    @property
    def db(self) -> int:
        """The database number keyspace notifications name (always 0 on a cluster)."""
        if self.cluster:
            return 0
        kwargs = getattr(getattr(self.client, "connection_pool", None), "connection_kwargs", {})
        return int(kwargs.get("db") or 0)

    def primaries(self, *, refresh: bool = False) -> dict[str, Any]:
        """The primaries by name: {"": None} (the one server) outside a cluster. `refresh`:
        ask the cluster for its topology first."""
        if not self.cluster:
            return {"": None}
        try:
            if not self._prepared:
                self._prepare()
            if refresh:
                self.client.nodes_manager.initialize()
            return {node.name: node for node in self.client.get_primaries()}
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc

    def on_node(self, node: Any, *command: Any) -> Any:
        """The reply to one plain command sent to `node` (None: the one server)."""
        options = {} if node is None else {"target_nodes": node}
        try:
            return self.client.execute_command(*command, **options)
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc

    def pipelined(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies to plain commands of one key each (its first argument), sent
        together: each reply, or the PyRedMemError it was. On a cluster, one pipeline per
        node, so that a node failing fails only its own commands."""
        if not self.cluster:
            return self._pipeline(self.client.pipeline(False), commands)
        by_node: dict[str, list[int]] = {}
        try:
            for i, command in enumerate(commands):
                by_node.setdefault(self.client.get_node_from_key(command[1]).name, []).append(i)
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc
        out: list[Any] = [None] * len(commands)
        for indexes in by_node.values():
            try:
                replies = self._pipeline(
                    self.client.pipeline(), [commands[i] for i in indexes]
                )
            except PyRedMemError as exc:
                replies = [exc] * len(indexes)
            for i, reply in zip(indexes, replies, strict=True):
                out[i] = reply
        return out

    def _pipeline(self, pipe: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        if not commands:
            return []
        try:
            for command in commands:
                pipe.execute_command(*command)
            if self._gate is None:
                replies = pipe.execute(raise_on_error=False)
            else:
                with self._gate:
                    replies = pipe.execute(raise_on_error=False)
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc
        return [
            translate(reply, key=None, scope=None) if isinstance(reply, Exception) else reply
            for reply in replies
        ]

    def pubsub(self, node: Any) -> Any:
        """A pub/sub connection to `node` (None: the one server), not yet subscribed."""
        if node is None:
            return self.client.pubsub()
        if _CLUSTER_PUBSUB:
            return self.client.pubsub(node=node)
        # redis-py's asyncio cluster client has pub/sub from 8.0 on; before it, a plain
        # pub/sub on a pool of the node's own connection settings (the cluster's TLS,
        # credentials and timeouts), which closing the pub/sub disconnects
        pool = redis.ConnectionPool(
            connection_class=node.connection_class, **node.connection_kwargs
        )
        return redis.client.PubSub(pool)

    def subscribe(
        self, pubsub: Any, patterns: Sequence[str], channels: Sequence[str]
    ) -> None:
        try:
            if patterns:
                pubsub.psubscribe(*patterns)
            if channels:
                pubsub.subscribe(*channels)
        except _FAILURES as exc:
            raise translate(exc, key=None, scope=None) from exc

    def listen(self, pubsub: Any, timeout: float) -> Any:
        """The next message of `pubsub` (confirmations and pongs too), or None after
        `timeout` seconds (0: only one already received)."""
        try:
            return pubsub.get_message(timeout=timeout)
        except (*_FAILURES, OSError) as exc:
            raise translate(exc, key=None, scope=None) from exc

    def ping(self, pubsub: Any) -> None:
        """Ask `pubsub`'s server for a pong (a message `listen` returns)."""
        try:
            pubsub.ping()
        except (*_FAILURES, OSError) as exc:
            raise translate(exc, key=None, scope=None) from exc

    def on_primary(self, pubsub: Any) -> bool:
        """False when `pubsub` is connected to a server a Sentinel no longer names as the
        primary (demoted by a failover, it still announces the writes it replicates, but
        not the keys that expire)."""
        locate = getattr(getattr(self.client, "connection_pool", None), "get_master_address", None)
        conn = getattr(pubsub, "connection", None)
        if locate is None or conn is None or not hasattr(conn, "host"):
            return True
        try:
            host, port = locate()
        except _FAILURES:
            return True  # no Sentinel answers: keep what works
        return (str(conn.host), int(conn.port)) == (str(host), int(port))

    def close_pubsub(self, pubsub: Any) -> None:
        """Close `pubsub`, whatever state its connection is in."""
        try:
            pubsub.close()
        except (*_FAILURES, OSError):
            pass  # already broken: nothing left to release

    def keep(self, handle: Closable) -> None:
        """Close `handle` (a watch, a background handler) when the runner closes."""
        self._handles.add(handle)

    def forget(self, handle: Closable) -> None:
        self._handles.discard(handle)

    def close(self) -> None:
        for handle in list(self._handles):
            handle.close()
        self._handles.clear()
        if self._lane is not None:
            self._lane.close()
        if self._reader is not None:
            self._reader.close()
            self._reader.client.close()
        if self._owned and self._client is not None:
            self._client.close()
        if self._owned and self._conn.sentinel is not None:
            for node in self._conn.sentinel.sentinels:  # its connections to the Sentinels
                node.close()
