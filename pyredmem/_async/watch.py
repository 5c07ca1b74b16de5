"""AsyncWatch: the change events of a memory's scopes and caches, delivered as they are
logged; `on_change` runs one in the background and calls a function for each event.

How a watcher learns of changes: every write of a memory opened with `events=True` adds
its events to the change log of its scope (a stream, see pyredmem/_ops/events.py), and the
server announces each addition as a keyspace notification. The watcher subscribes, on
every primary, to the notifications of the logs its pattern may match and reads a log when
it grows, from the last entry it delivered of that log. It asks each primary for the
notifications it needs (`notify-keyspace-events` with K, E, t and x, added to whatever the
server already has) unless told not to.

What it guarantees: one watcher delivers every logged event it matches once, and the
events of one scope (one log) in their order, also across reconnects and failovers: it
then looks for the logs (SCAN) and reads each from the last entry it delivered of it (it
remembers the 100,000 logs read last; one forgotten is read again from the watcher's
start, or its `after`). After a failover, that is what the new primary holds (a write its
old primary acknowledged but never replicated is lost to the logs too). Events read
together are delivered in time order. A new watcher resuming with `after=<an event id>`
reads the cursor's own log from right after it and every other log from MARGIN_MS (5 s)
before it, since events of different logs are not ordered: across watchers, delivery is
at least once; deduplicate by `Event.id`. A log keeps its last `events_max` entries for
`events_ttl` after its scope's last event: resuming from further back misses what it no
longer holds.

`expire` events for a whole scope, thread or cache bucket that expired as a key are made
up by the watcher when the server announces the expiry (the embedded store announces
none: there, the watcher polls the keys of the scopes it has read events of): they are
live only (no log holds them; a resumed watcher does not see them again), and their id,
"<local ms>-0.x<digest of the key>", resumes from its time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import monotonic, time
from types import TracebackType
from typing import Any

from .._background import AsyncBackground, call_async, logger
from .._config import Config, finite
from .._errors import (
    BackendError,
    BackendUnavailableError,
    EventsConfigError,
    InvalidValueError,
    PermissionDeniedError,
    PyRedMemError,
)
from .._ops.events import (
    Event,
    LogName,
    Matcher,
    decode_event,
    parse_log_key,
    start_of,
)
from .._watching import (
    NOTIFY_FLAGS,
    READ_COUNT,
    ExpiryPoll,
    Positions,
    Resume,
    expired_event,
    notify_value,
    polled_keys,
    scan_reply,
    text,
)
from ._runner import AsyncRunner
from ._sleep import sleep

__all__ = ["AsyncChangeHandler", "AsyncWatch", "on_change"]

# the longest a watcher blocks at once (s): how soon it sees a stop asked by another thread
SLICE = 0.5
# with several primaries, how long it listens to one before looking at the next (s): what
# an event may wait on a cluster at worst (a few ms; idle, 200 short waits a second)
NODE_SLICE = 0.005
# how often the embedded store's keys are polled for expiry (s)
EXPIRY_POLL = 0.25
# how often a cluster's primaries are looked up, and every connection pinged (s)
REFRESH = 5.0
# after a connection failed, how soon the cluster's primaries are looked up again (s)
RELOOK = 0.5
# a connection that has not answered for this long (s) is made anew (and caught up)
SILENCE = 3 * REFRESH
# a failure of one kind is logged at most once in this many seconds
WARN_EVERY = 5.0
# how long subscribing waits for the server's confirmations (s)
CONFIRM = 5.0
# most messages taken from one connection before the others get their turn
DRAIN = 10_000


class _Node:
    """One primary the watcher listens to, and the state of its subscription."""

    __slots__ = ("confirmed", "failures", "heard", "name", "node", "pubsub", "retry_at")

    def __init__(self, name: str, node: Any) -> None:
        self.name = name
        self.node = node  # the cluster node (None: the one server)
        self.pubsub: Any = None  # subscribed and confirmed, or None (down: see retry_at)
        self.confirmed = 0  # confirmations received on the current connection
        self.heard = monotonic()
        self.failures = 0
        self.retry_at = 0.0


class AsyncWatch:
    """The change events of the scopes (or caches) a pattern matches, as they happen.

    `async for event in watch` (or `async with watch:` first, so that it is listening before
    the block's writes). `after`: also deliver the events logged after this cursor (an
    event id, e.g. an earlier watcher's `cursor`, a datetime, or seconds since the epoch);
    by default only those logged from when it starts. `values`: decode the values the
    writer logged (`events="values"`). `timeout`: seconds to wait for the next event,
    after which iteration ends (None: wait forever). `configure`: turn on the keyspace
    notifications it needs where the server has them off (EventsConfigError if the server
    refuses; pass False where they are set by other means). Delivery guarantees: see the
    module docstring.
    """

    def __init__(
        self,
        runner: AsyncRunner,
        cfg: Config,
        matcher: Matcher,
        *,
        after: object = None,
        values: bool = False,
        timeout: float | None = None,
        configure: bool = True,
    ) -> None:
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not finite(timeout)
            or timeout <= 0
        ):
            raise InvalidValueError(f"timeout is a positive number of seconds, not {timeout!r}")
        self._runner = runner
        self._cfg = cfg
        self._matcher = matcher
        self._resume = None if after is None else Resume.of(after)
        self._values = bool(values)
        self._timeout = timeout
        self._configure = configure
        db = runner.db
        self._channel_head = f"__keyspace@{db}__:"
        self._patterns = [self._channel_head + p for p in matcher.key_patterns()]
        self._expired_channel = f"__keyevent@{db}__:expired"
        # where logs first seen are read from: the resume floor, else the start time
        self._floor = (0, -1) if self._resume is None else self._resume.floor
        self._positions = Positions()
        self._poll = ExpiryPoll() if runner.embedded else None
        self._nodes: dict[str, _Node] = {}
        self._signalled: set[str] = set()  # logs to read
        self._catch_up: set[str] = set()  # nodes whose logs to look for (SCAN)
        self._expired: list[Event] = []  # made up, delivered after the next read
        self._ready: deque[Event] = deque()
        self._cursor: str | None = None
        self._turn = 0
        self._refresh_at = 0.0
        self._refreshed = 0.0
        self._poll_at = 0.0
        self._warned: dict[str, float] = {}  # kind of failure -> when to log it again
        self._started = False
        self._stopped = False
        self._busy = False  # inside __anext__ (a stop asked meanwhile is seen there)
        self._losses = 0  # subscriptions lost so far (see `live_epoch`)
        self._live: int | None = None  # see `live_epoch`

    @property
    def cursor(self) -> str | None:
        """The id of the last event delivered (None before the first): pass it as `after`
        to a new watcher to resume from it."""
        return self._cursor

    @property
    def live_epoch(self) -> int | None:
        """None unless the watch is listening on every primary with nothing to catch up on;
        then a number that changes whenever a subscription was lost since (events may have
        been missed until the catch-up): what a near cache checks before serving a copy.
        Kept up to date by the watch itself (None as soon as it loses a connection), so
        that reading it costs an attribute lookup."""
        return self._live

    def _relive(self) -> None:
        """Work `live_epoch` out again (after a round of the watch)."""
        nodes = self._nodes
        if (
            not self._started
            or self._stopped
            or self._catch_up
            or not nodes
            or any(n.pubsub is None for n in nodes.values())
        ):
            self._live = None
        else:
            self._live = self._losses

    def __repr__(self) -> str:
        m = self._matcher
        return f"<{type(self).__name__} {m.kind}:{m.name} cursor={self._cursor!r}>"

    async def start(self) -> AsyncWatch:
        """Subscribe on every primary (waiting for the server's confirmations, so that every
        write made after this returns is seen) and, with `after`, look for the logs to
        catch up on. Iterating starts the watch if this was not called."""
        if self._started:
            return self
        if self._stopped:
            raise InvalidValueError("this watch is closed")
        self._started = True
        self._runner.keep(self)
        try:
            primaries = await self._runner.primaries()
            if self._resume is None:  # from the earliest primary clock, before subscribing
                self._floor = (min([await self._server_ms(n) for n in primaries.values()]), -1)
            for name, node in primaries.items():
                n = self._nodes[name] = _Node(name, node)
                await self._subscribe(n)
                if self._resume is not None:
                    self._catch_up.add(name)
            self._refresh_at = monotonic() + REFRESH
            self._relive()
        except BaseException:
            self._stopped = True
            await self._release()
            raise
        return self

    async def __aenter__(self) -> AsyncWatch:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> Event:
        if self._stopped:
            await self._release()
            raise StopAsyncIteration
        await self.start()
        self._busy = True
        try:
            deadline = None if self._timeout is None else monotonic() + self._timeout
            while not self._ready:
                if self._stopped:
                    raise StopAsyncIteration
                now = monotonic()
                if deadline is not None and now >= deadline:
                    self._stopped = True
                    raise StopAsyncIteration
                await self._step(SLICE if deadline is None else min(SLICE, deadline - now))
            if self._stopped:
                raise StopAsyncIteration
            event = self._ready.popleft()
            self._cursor = event.id
            return event
        except StopAsyncIteration:
            self._busy = False
            await self._release()
            raise
        finally:
            self._busy = False

    async def aclose(self) -> None:
        """Stop watching and release the connections. Iteration in progress elsewhere (a
        task, a thread) ends within half a second."""
        self._stopped = True
        self._live = None
        if not self._busy:
            await self._release()

    async def _release(self) -> None:
        self._live = None  # listening nowhere now (an iteration ended by its timeout too)
        nodes, self._nodes = list(self._nodes.values()), {}
        for n in nodes:
            if n.pubsub is not None:
                pubsub, n.pubsub = n.pubsub, None
                await self._runner.close_pubsub(pubsub)
        self._runner.forget(self)

    # -- one round: keep the connections up, listen, read what was signalled --

    async def _step(self, wait: float) -> None:
        now = monotonic()
        await self._maintain(now)
        if self._expired or self._catch_up or self._signalled:
            wait = 0.0  # work to do: take what has come, without waiting
        elif self._poll is not None and len(self._poll):
            wait = min(wait, max(0.0, self._poll_at - now))
        await self._listen(wait)
        for name in list(self._catch_up):
            n = self._nodes.get(name)
            if n is None or n.pubsub is None:
                self._catch_up.discard(name)
            elif await self._look_for_logs(n):
                self._catch_up.discard(name)
        if self._signalled:
            await self._read()
        if self._expired:
            self._ready.extend(self._expired)
            self._expired = []
        self._relive()

    async def _listen(self, wait: float) -> None:
        """Take every message already received, else wait up to `wait` seconds for one."""
        live = [n for n in self._nodes.values() if n.pubsub is not None]
        if not live:
            await sleep(max(0.0, min(wait, 0.1)))
            return
        got = False
        for n in live:
            got = await self._drain(n) or got
        if got or wait <= 0:
            return
        n = live[self._turn % len(live)]
        self._turn += 1
        message = await self._get(n, wait if len(live) == 1 else min(wait, NODE_SLICE))
        if message is not None:
            self._take(n, message)
            await self._drain(n)

    async def _drain(self, n: _Node) -> bool:
        got = False
        for _ in range(DRAIN):
            message = await self._get(n, 0)
            if message is None:
                break
            self._take(n, message)
            got = True
        return got

    async def _get(self, n: _Node, timeout: float) -> Any:
        if n.pubsub is None:
            return None
        try:
            message = await self._runner.listen(n.pubsub, timeout)
        except BackendError as exc:
            await self._lost(n, exc)
            return None
        if message is not None:
            n.heard = monotonic()
        return message

    def _take(self, n: _Node, message: Any) -> None:
        """One pub/sub message: a log grew, a key expired, or a (re)subscription."""
        kind = message.get("type")
        if kind == "pmessage":
            if message.get("data") == b"xadd":
                channel = text(message.get("channel"))
                self._signalled.add(channel[len(self._channel_head) :])
        elif kind == "message":
            if text(message.get("channel")) == self._expired_channel:
                key = text(message.get("data"))
                event = expired_event(self._cfg.keyspace, self._matcher, key, int(time() * 1000))
                if event is not None:
                    self._expired.append(event)
        elif kind in ("psubscribe", "subscribe"):
            n.confirmed += 1
            if n.confirmed > len(self._patterns) + 1:
                # the client reconnected and subscribed again by itself: notifications
                # were lost meanwhile, and the server may have restarted without them
                n.confirmed = len(self._patterns) + 1
                self._catch_up.add(n.name)
                self._losses += 1
                self._live = None

    # -- the connections: subscribe, reconnect, follow the cluster's primaries --

    async def _subscribe(self, n: _Node) -> None:
        """Subscribe on `n` (after making sure it sends notifications) and wait for the
        confirmations; raises if that fails."""
        if self._configure and not self._runner.embedded:
            await self._configure_node(n.node)
        pubsub = self._runner.pubsub(n.node)
        n.confirmed = 0
        try:
            await self._runner.subscribe(pubsub, self._patterns, [self._expired_channel])
            deadline = monotonic() + CONFIRM
            while n.confirmed < len(self._patterns) + 1:
                left = deadline - monotonic()
                if left <= 0:
                    raise BackendUnavailableError(
                        f"the server did not confirm the subscriptions in {CONFIRM:g} s"
                    )
                message = await self._runner.listen(pubsub, min(left, SLICE))
                if message is not None:
                    self._take(n, message)
        except BaseException:
            await self._runner.close_pubsub(pubsub)
            raise
        n.pubsub = pubsub
        n.heard = monotonic()
        n.failures = 0

    async def _configure_node(self, node: Any) -> None:
        """Add the notification flags a watcher needs to `node`'s setting, if missing."""
        try:
            reply = await self._runner.on_node(node, "CONFIG", "GET", "notify-keyspace-events")
        except BackendError as exc:
            if not _refused(exc):
                raise
            raise _config_error(NOTIFY_FLAGS, exc) from exc
        if isinstance(reply, dict):
            current = text(next(iter(reply.values()), b""))
        else:
            current = text(reply[1]) if len(reply) > 1 else ""
        value = notify_value(current)
        if value is None:
            return
        try:
            await self._runner.on_node(node, "CONFIG", "SET", "notify-keyspace-events", value)
        except BackendError as exc:
            if not _refused(exc):
                raise
            raise _config_error(value, exc) from exc

    def _warn(self, what: str, *args: object) -> None:
        """Log a failure, at most once per WARN_EVERY seconds for each kind (a cluster
        failing over fails every round until it is done)."""
        now = monotonic()
        if now >= self._warned.get(what, 0.0):
            self._warned[what] = now + WARN_EVERY
            logger.warning("pyredmem: a watcher " + what, *args)

    async def _server_ms(self, node: Any) -> int:
        seconds, micros = await self._runner.on_node(node, "TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    async def _lost(self, n: _Node, why: BaseException) -> None:
        """`n`'s connection failed: drop it, try again later (with backoff), then catch up."""
        self._warn("lost its connection to %s: %s", n.name or "the server", why)
        self._losses += 1
        self._live = None
        if n.pubsub is not None:
            pubsub, n.pubsub = n.pubsub, None
            await self._runner.close_pubsub(pubsub)
        n.failures += 1
        n.retry_at = monotonic() + min(2.0, 0.05 * 2**n.failures)
        if self._runner.cluster:  # the node may have failed over: look again soon
            self._refresh_at = min(self._refresh_at, self._refreshed + RELOOK)

    async def _maintain(self, now: float) -> None:
        if now >= self._refresh_at:
            self._refresh_at = now + REFRESH
            self._refreshed = now
            if self._runner.cluster:
                await self._follow_primaries()
            for n in list(self._nodes.values()):
                if n.pubsub is None or self._runner.embedded:
                    continue
                if now - n.heard > SILENCE:
                    await self._lost(n, BackendUnavailableError("no answer to pings"))
                    continue
                try:
                    await self._runner.ping(n.pubsub)
                    moved = not self._runner.cluster and not await self._runner.on_primary(n.pubsub)
                except BackendError as exc:
                    await self._lost(n, exc)
                    continue
                if moved:
                    await self._lost(n, BackendUnavailableError("the primary moved"))
        for n in list(self._nodes.values()):
            if n.pubsub is None and now >= n.retry_at:
                try:
                    await self._subscribe(n)
                except EventsConfigError:
                    raise
                except PyRedMemError as exc:
                    await self._lost(n, exc)
                else:
                    self._catch_up.add(n.name)
        if self._poll is not None and now >= self._poll_at:
            self._poll_at = now + EXPIRY_POLL
            await self._poll_expiry()

    async def _follow_primaries(self) -> None:
        """Subscribe to new primaries (a failover, a node added) and drop former ones."""
        try:
            primaries = await self._runner.primaries(refresh=True)
        except PyRedMemError as exc:
            self._warn("could not look up the cluster's nodes: %s", exc)
            return
        if set(primaries) != set(self._nodes):
            self._losses += 1  # a failover or a new node: events may have been missed
            self._live = None
        for name in list(self._nodes):
            if name not in primaries:
                n = self._nodes.pop(name)
                self._catch_up.discard(name)
                if n.pubsub is not None:
                    await self._runner.close_pubsub(n.pubsub)
        for name, node in primaries.items():
            if name in self._nodes:
                self._nodes[name].node = node
            else:  # subscribed (and caught up) in this round
                self._nodes[name] = _Node(name, node)

    # -- reading the logs --

    async def _look_for_logs(self, n: _Node) -> bool:
        """Every log on `n` the pattern may match, to read from where it was left (SCAN:
        after a reconnect, a failover, or to resume). False if `n` failed meanwhile."""
        found: set[str] = set()
        try:
            if self._configure and not self._runner.embedded:
                await self._configure_node(n.node)  # the server may have restarted without
            for pattern in self._matcher.key_patterns():
                cursor = 0
                while True:
                    reply = await self._runner.on_node(
                        n.node,
                        "SCAN",
                        cursor,
                        "MATCH",
                        pattern,
                        "COUNT",
                        READ_COUNT,
                        "TYPE",
                        "stream",
                    )
                    cursor, keys = scan_reply(reply)
                    found.update(keys)
                    if cursor == 0:
                        break
        except EventsConfigError:
            raise
        except PyRedMemError as exc:
            await self._lost(n, exc)
            return False
        self._signalled |= found
        return True

    async def _read(self) -> None:
        """Read every signalled log from its position; queue what the matcher wants."""
        keys = set(self._signalled)
        ks = self._cfg.keyspace
        logs = {}
        for key in keys:
            log = parse_log_key(ks, key)
            if log is not None and self._matcher.wants_log(log):
                logs[key] = log
        while logs:
            # at most READ_COUNT logs per pipeline, those with more to read again after
            chunk = dict(list(logs.items())[:READ_COUNT])
            try:
                replies = await self._runner.pipelined(
                    [("XRANGE", key, self._start(key), "+", "COUNT", READ_COUNT) for key in chunk]
                )
            except PyRedMemError as exc:  # read again in the next round
                self._warn("could not read the change logs: %s", exc)
                await sleep(0.05)
                return
            batch: list[Event] = []
            for key in chunk:
                del logs[key]
            try:
                for (key, log), reply in zip(chunk.items(), replies, strict=True):
                    if isinstance(reply, PyRedMemError):
                        self._warn("could not read a change log: %s", reply)
                        if isinstance(reply, BackendUnavailableError):
                            keys.discard(key)  # read again in the next round
                        continue
                    if not reply:
                        continue
                    events = self._decode(key, log, reply, batch)
                    self._positions.set(key, events[-1].position)
                    if self._poll is not None and self._poll.add(
                        polled_keys(self._cfg.keyspace, log, events)
                    ):
                        self._poll_at = 0.0  # learn their expiry before it passes
                    batch += [e for e in events if self._matcher.wants(e)]
                    if len(reply) >= READ_COUNT:
                        logs[key] = log
            finally:  # the events of the logs read before it are delivered all the same
                batch.sort(key=_order)
                self._ready.extend(batch)
        self._signalled -= keys

    def _decode(self, key: str, log: LogName, reply: list[Any], batch: list[Event]) -> list[Event]:
        """The events of a log's entries. An entry that cannot be decoded (a value sealed
        under a key this memory lacks) raises its error once: the events before it join
        `batch`, and the log's position moves past it, so that the watch goes on after."""
        events: list[Event] = []
        for sid, raw in reply:
            try:
                events.append(decode_event(self._cfg, log, sid, raw, values=self._values))
            except PyRedMemError:
                batch += [e for e in events if self._matcher.wants(e)]
                self._positions.set(key, start_of(sid.decode() if isinstance(sid, bytes) else sid))
                raise
        return events

    def _start(self, key: str) -> str:
        if self._positions.get(key) is None and self._resume is not None:
            return self._positions.start(key, self._resume.start(key))
        return self._positions.start(key, self._floor)

    async def _poll_expiry(self) -> None:
        """The embedded store announces no expiry: look at the keys of the scopes, threads
        and cache buckets read so far, and make up `expire` events for those gone."""
        assert self._poll is not None
        keys = self._poll.keys()
        if not keys:
            return
        try:
            replies = await self._runner.pipelined([("PTTL", key) for key in keys])
        except PyRedMemError:
            return
        now_ms = int(time() * 1000)
        for key in self._poll.update(keys, replies, monotonic()):
            event = expired_event(self._cfg.keyspace, self._matcher, key, now_ms)
            if event is not None:
                self._expired.append(event)


def _order(event: Event) -> tuple[int, int]:
    return event.position


def _refused(exc: BackendError) -> bool:
    """CONFIG refused: by an ACL, or unknown (renamed or disabled), as opposed to the
    server being unreachable."""
    return isinstance(exc, PermissionDeniedError) or type(exc) is BackendError


def _config_error(value: str, cause: BackendError) -> EventsConfigError:
    return EventsConfigError(
        "watching needs keyspace notifications, and the server refused CONFIG "
        f"({cause.message}): set notify-keyspace-events to {value!r} on every primary "
        f"(e.g. CONFIG SET notify-keyspace-events {value}, or the service's parameter "
        "group), then watch with configure=False if CONFIG stays refused",
        value,
    )


class AsyncChangeHandler:
    """A watch running in the background (an asyncio task with the asyncio API, a daemon
    thread with the sync one), calling `callback(event)` for each event. A callback that
    raises is logged (logger "pyredmem") and counted in `errors`; the next events still
    come. `aclose()` stops it; closing the memory does too."""

    def __init__(self, watch: AsyncWatch, callback: Callable[[Event], Any]) -> None:
        runner = watch._runner
        self._runner = runner
        self._watch = watch
        self._callback = callback
        self.errors = 0  # callbacks that raised
        self.delivered = 0  # events passed to the callback
        self.failure: BaseException | None = None  # why the watch stopped, if it failed
        self._background = AsyncBackground(self._pump, name=f"pyredmem-on-change-{id(self):x}")
        runner.keep(self)

    @property
    def running(self) -> bool:
        return self._background.running

    @property
    def live_epoch(self) -> int | None:
        """The watch's `live_epoch` (None once it stopped: the watch is closed when the
        handler's task or thread ends, whatever ended it)."""
        return self._watch.live_epoch

    @property
    def cursor(self) -> str | None:
        """The id of the last event passed to the callback."""
        return self._watch.cursor

    async def _pump(self) -> None:
        try:
            async for event in self._watch:
                self.delivered += 1
                try:
                    await call_async(self._callback, event)
                except Exception:
                    self.errors += 1
                    logger.exception("pyredmem: an on_change callback raised (event %s)", event.id)
        except Exception as exc:
            self.failure = exc
            logger.exception("pyredmem: an on_change watch stopped")
        finally:
            await self._watch.aclose()

    async def aclose(self) -> None:
        """Stop: no callback runs after this returns (unless called from a callback)."""
        self._runner.forget(self)
        await self._watch.aclose()
        await self._background.aclose()
        await self._watch.aclose()


async def on_change(watch: AsyncWatch, callback: Callable[[Event], Any]) -> AsyncChangeHandler:
    """Start `watch` (listening when this returns) and run it in the background, calling
    `callback(event)` for each event (with the asyncio API, what it returns is awaited if
    awaitable: a coroutine function works too)."""
    await watch.start()
    return AsyncChangeHandler(watch, callback)
